#include "kiln/autograd/ops/rope.hpp"

#include "kiln/autograd/function.hpp"
#include "kiln/kernels/cpu/rope.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

struct RopeGeometry {
  int64_t rows, length, heads, d;
  bool per_row;
};

RopeGeometry geometry(const Tensor& x, const Tensor& positions) {
  KILN_CHECK(x.dim() == 3 || x.dim() == 4, "rope: input must be [B, T, H, D] or [T, H, D], got {}", x.describe());
  KILN_CHECK(x.size(-1) % 2 == 0, "rope: head dimension of {} must be even", x.describe());
  RopeGeometry g{x.dim() == 4 ? x.size(0) : 1, x.size(-3), x.size(-2), x.size(-1), false};
  KILN_CHECK(positions.dtype() == DType::i64 || positions.dtype() == DType::i32,
             "rope: positions must be integers, got {}", positions.describe());
  if (positions.dim() == 2) {
    KILN_CHECK(positions.size(0) == g.rows && positions.size(1) == g.length,
               "rope: positions {} do not match input {}", positions.describe(), x.describe());
    g.per_row = true;
  } else {
    KILN_CHECK(positions.dim() == 1 && positions.size(0) == g.length, "rope: positions {} do not match input {}",
               positions.describe(), x.describe());
  }
  return g;
}

Tensor apply(const Tensor& x_in, const Tensor& pos, const RopeGeometry& g, double theta, bool interleaved,
             bool inverse) {
  const Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  const cpu::RopeShape shape{g.rows, g.length, g.heads, g.d, g.per_row};
  KILN_DISPATCH_FLOATING(x.dtype(), "rope", [&] {
    cpu::rope(x.data<scalar_t>(), y.data<scalar_t>(), pos.data<int64_t>(), shape, theta, interleaved, inverse);
  });
  return y;
}

}  // namespace

Tensor rope(const Tensor& x, const Tensor& positions, double theta, bool interleaved) {
  const RopeGeometry g = geometry(x, positions);
  const Tensor pos = positions.to(DType::i64).contiguous();
  Tensor out = apply(x, pos, g, theta, interleaved, false);
  return record("rope", {x}, {out}, [pos, g, theta, interleaved](const TensorList& grads) {
    return TensorList{apply(grads[0], pos, g, theta, interleaved, true)};
  })[0];
}

}  // namespace kiln::ops
