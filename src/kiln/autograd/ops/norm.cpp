#include "kiln/autograd/ops/norm.hpp"

#include <algorithm>

#include "kiln/autograd/function.hpp"
#include "kiln/kernels/cpu/norm.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

void check_norm_args(const Tensor& x, const Tensor& weight, const Tensor& bias, const char* op) {
  KILN_CHECK(x.dim() >= 1, "{}: input {} has no last dimension", op, x.describe());
  KILN_CHECK(weight.dim() == 1 && weight.size(0) == x.size(-1), "{}: weight {} does not match input {}", op,
             weight.describe(), x.describe());
  KILN_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == x.size(-1)), "{}: bias {} does not match input {}",
             op, bias.describe(), x.describe());
  check_same_dtype(x, weight, op);
}

Tensor normalise(const Tensor& x_in, const Tensor& weight, const Tensor& bias, double eps, bool layer, const char* op) {
  check_norm_args(x_in, weight, bias, op);
  const Tensor x = x_in.contiguous();
  const int64_t d = x.size(-1), rows = x.numel() / std::max<int64_t>(d, 1);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor mean = Tensor::empty({rows}, x.dtype()), rstd = Tensor::empty({rows}, x.dtype());
  const Tensor w = weight.contiguous(), b = bias.defined() ? bias.contiguous() : Tensor();
  KILN_DISPATCH_FLOATING(x.dtype(), op, [&] {
    cpu::norm_forward(x.data<scalar_t>(), w.data<scalar_t>(), b.defined() ? b.data<scalar_t>() : nullptr,
                           y.data<scalar_t>(), mean.data<scalar_t>(), rstd.data<scalar_t>(), rows, d, eps, layer);
  });
  TensorList inputs{x_in, weight};
  if (bias.defined()) inputs.push_back(bias);
  return record(op, inputs, {y}, [x, w, mean, rstd, layer, has_bias = bias.defined(), op](const TensorList& grads) {
    const Tensor g = grads[0].contiguous();
    const int64_t d = x.size(-1), rows = x.numel() / std::max<int64_t>(d, 1);
    Tensor dx = Tensor::empty(x.shape(), x.dtype()), dw = Tensor::empty(w.shape(), w.dtype());
    Tensor db = has_bias ? Tensor::empty(w.shape(), w.dtype()) : Tensor();
    KILN_DISPATCH_FLOATING(x.dtype(), op, [&] {
      cpu::norm_backward(x.data<scalar_t>(), w.data<scalar_t>(), g.data<scalar_t>(), mean.data<scalar_t>(),
                              rstd.data<scalar_t>(), dx.data<scalar_t>(), dw.data<scalar_t>(),
                              has_bias ? db.data<scalar_t>() : nullptr, rows, d, layer);
    });
    TensorList out{dx, dw};
    if (has_bias) out.push_back(db);
    return out;
  })[0];
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return normalise(x, weight, bias, eps, true, "layer_norm");
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  return normalise(x, weight, Tensor(), eps, false, "rms_norm");
}

}  // namespace kiln::ops
