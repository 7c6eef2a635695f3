#include "kiln/autograd/ops/conv.hpp"

#include "kiln/autograd/function.hpp"
#include "kiln/kernels/cpu/conv1d.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

Tensor conv1d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in, int64_t stride, int64_t padding) {
  KILN_CHECK(x_in.dim() == 3, "conv1d: input must be [B, C_in, L], got {}", x_in.describe());
  KILN_CHECK(weight_in.dim() == 3 && weight_in.size(1) == x_in.size(1),
             "conv1d: weight {} does not match input {} (expected [C_out, {}, K])", weight_in.describe(),
             x_in.describe(), x_in.size(1));
  KILN_CHECK(!bias_in.defined() || (bias_in.dim() == 1 && bias_in.size(0) == weight_in.size(0)),
             "conv1d: bias {} does not match weight {}", bias_in.describe(), weight_in.describe());
  KILN_CHECK(stride >= 1 && padding >= 0, "conv1d: stride must be ≥ 1 and padding ≥ 0");
  check_same_dtype(x_in, weight_in, "conv1d");
  cpu::Conv1dShape s{x_in.size(0), x_in.size(1), x_in.size(2), weight_in.size(0), weight_in.size(2), stride, padding, 0};
  KILN_CHECK(s.length + 2 * padding >= s.kernel, "conv1d: input {} is shorter than the kernel {}", x_in.describe(),
             s.kernel);
  s.out_length = (s.length + 2 * padding - s.kernel) / stride + 1;
  const Tensor x = x_in.contiguous(), w = weight_in.contiguous(), b = bias_in.defined() ? bias_in.contiguous() : Tensor();
  Tensor y = Tensor::empty({s.batch, s.c_out, s.out_length}, x.dtype());
  KILN_DISPATCH_FLOATING(x.dtype(), "conv1d", [&] {
    cpu::conv1d_forward<scalar_t>(x.data<scalar_t>(), w.data<scalar_t>(), b.defined() ? b.data<scalar_t>() : nullptr,
                           y.data<scalar_t>(), s);
  });
  TensorList inputs{x_in, weight_in};
  if (bias_in.defined()) inputs.push_back(bias_in);
  return record("conv1d", inputs, {y}, [x, w, has_bias = b.defined(), s](const TensorList& grads) {
    const Tensor g = grads[0].contiguous();
    Tensor dx = Tensor::empty(x.shape(), x.dtype()), dw = Tensor::empty(w.shape(), w.dtype());
    Tensor db = has_bias ? Tensor::empty({s.c_out}, w.dtype()) : Tensor();
    KILN_DISPATCH_FLOATING(x.dtype(), "conv1d", [&] {
      cpu::conv1d_backward<scalar_t>(x.data<scalar_t>(), w.data<scalar_t>(), g.data<scalar_t>(), dx.data<scalar_t>(),
                              dw.data<scalar_t>(), has_bias ? db.data<scalar_t>() : nullptr, s);
    });
    TensorList out{dx, dw};
    if (has_bias) out.push_back(db);
    return out;
  })[0];
}

}  // namespace kiln::ops
