#include "kiln/autograd/ops/interpolate.hpp"

#include <memory>

#include "kiln/autograd/function.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

// The tensor viewed [outer, n, inner] around axis `dim`.
struct AxisView {
  int64_t outer = 1, inner = 1;
};

AxisView view_around(const Shape& shape, int64_t dim) {
  AxisView v;
  for (int64_t i = 0; i < dim; ++i) v.outer *= shape[static_cast<size_t>(i)];
  for (size_t i = static_cast<size_t>(dim) + 1; i < shape.size(); ++i) v.inner *= shape[i];
  return v;
}

}  // namespace

Tensor resize(const Tensor& x, int64_t dim, int64_t size, cpu::Interpolation mode) {
  KILN_CHECK(x.dim() >= 1 && dim >= -x.dim() && dim < x.dim(), "resize: axis {} of {} does not exist", dim,
             x.describe());
  if (dim < 0) dim += x.dim();
  KILN_CHECK(x.size(dim) >= 1 && size >= 1, "resize: axis {} of {} to {} samples: both lengths must be positive",
             dim, x.describe(), size);
  const auto taps = std::make_shared<const cpu::ResizeTaps>(cpu::resize_taps(x.size(dim), size, mode));
  const AxisView v = view_around(x.shape(), dim);
  const Tensor input = x.contiguous();
  Shape out_shape = x.shape();
  out_shape[static_cast<size_t>(dim)] = size;
  Tensor out = Tensor::empty(out_shape, x.dtype());
  KILN_DISPATCH_FLOATING(x.dtype(), "resize", [&] {
    cpu::resize_axis(input.data<scalar_t>(), out.data<scalar_t>(), v.outer, v.inner, *taps);
  });
  return record("resize", {x}, {out}, [taps, v, shape = x.shape(), dtype = x.dtype()](const TensorList& g) {
    const Tensor gy = g[0].contiguous();
    Tensor gx = Tensor::empty(shape, dtype);
    KILN_DISPATCH_FLOATING(dtype, "resize", [&] {
      cpu::resize_axis_transpose(gy.data<scalar_t>(), gx.data<scalar_t>(), v.outer, v.inner, *taps);
    });
    return TensorList{gx};
  })[0];
}

}  // namespace kiln::ops
