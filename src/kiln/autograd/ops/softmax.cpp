#include "kiln/autograd/ops/softmax.hpp"

#include "kiln/autograd/function.hpp"
#include "kiln/kernels/cpu/softmax.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

Tensor softmax_op(const Tensor& x_in, bool log_form, const char* name) {
  KILN_CHECK(x_in.dim() >= 1 && x_in.size(-1) > 0, "{}: input {} has an empty last dimension", name, x_in.describe());
  const Tensor x = x_in.contiguous();
  const int64_t d = x.size(-1), rows = x.numel() / d;
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  KILN_DISPATCH_FLOATING(x.dtype(), name, [&] {
    cpu::softmax_forward(x.data<scalar_t>(), y.data<scalar_t>(), rows, d, log_form);
  });
  return record(name, {x_in}, {y}, [y = y.detach(), log_form, name](const TensorList& g) {
    const Tensor gc = g[0].contiguous();
    const int64_t d = y.size(-1), rows = y.numel() / d;
    Tensor dx = Tensor::empty(y.shape(), y.dtype());
    KILN_DISPATCH_FLOATING(y.dtype(), name, [&] {
      cpu::softmax_backward(y.data<scalar_t>(), gc.data<scalar_t>(), dx.data<scalar_t>(), rows, d, log_form);
    });
    return TensorList{dx};
  })[0];
}

}  // namespace

Tensor softmax(const Tensor& x) { return softmax_op(x, false, "softmax"); }
Tensor log_softmax(const Tensor& x) { return softmax_op(x, true, "log_softmax"); }

}  // namespace kiln::ops
