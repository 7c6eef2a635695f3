#include "kiln/autograd/ops/dropout.hpp"

#include "kiln/autograd/function.hpp"
#include "kiln/kernels/cpu/dropout.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

Tensor masked(const Tensor& x_in, double p, const PhiloxKey& key) {
  const Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  KILN_DISPATCH_FLOATING(x.dtype(), "dropout", [&] {
    cpu::dropout_mask<scalar_t>(x.data<scalar_t>(), y.data<scalar_t>(), x.numel(), p, key);
  });
  return y;
}

}  // namespace

Tensor dropout(const Tensor& x, double p, const PhiloxKey& key, bool training) {
  KILN_CHECK(p >= 0 && p < 1, "dropout: p must be in [0, 1), got {}", p);
  if (!training || p == 0) return x;
  Tensor out = masked(x, p, key);
  return record("dropout", {x}, {out}, [p, key](const TensorList& g) { return TensorList{masked(g[0], p, key)}; })[0];
}

}  // namespace kiln::ops
