#include "kiln/autograd/ops/reduce.hpp"

#include "kiln/autograd/function.hpp"
#include "kiln/kernels/cpu/map.hpp"
#include "kiln/kernels/cpu/reduce.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

// Views x (made contiguous) as [outer, n, inner] around `dim`.
struct Split3 {
  int64_t outer = 1, n = 1, inner = 1;
};

Split3 split_around(const Shape& shape, int64_t dim) {
  Split3 s;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) s.outer *= shape[d];
    else if (d == dim) s.n = shape[d];
    else s.inner *= shape[d];
  }
  return s;
}

Shape reduced_shape(const Shape& shape, int64_t dim, bool keepdim) {
  Shape out = shape;
  if (keepdim) out[dim] = 1;
  else out.erase(out.begin() + dim);
  return out;
}

Tensor sum_dim_forward(const Tensor& x, int64_t dim, bool keepdim, double factor) {
  const Tensor c = x.contiguous();
  const Split3 s = split_around(c.shape(), dim);
  Tensor out = Tensor::empty(reduced_shape(c.shape(), dim, keepdim), c.dtype());
  KILN_DISPATCH_FLOATING(c.dtype(), "sum", [&] {
    cpu::sum_middle(c.data<scalar_t>(), s.outer, s.n, s.inner, factor, out.data<scalar_t>());
  });
  return out;
}

// Broadcast a reduced gradient back over `dim`, times factor.
Tensor spread(const Tensor& g, const Shape& shape, int64_t dim, bool keepdim, double factor) {
  const Tensor gk = keepdim ? g : g.unsqueeze(dim);
  Tensor out = Tensor::empty(shape, g.dtype());
  out.copy_(gk.expand(shape));
  if (factor != 1.0) {
    KILN_DISPATCH_FLOATING(out.dtype(), "mean", [&] { cpu::scale(out.data<scalar_t>(), out.numel(), factor); });
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) {
  dim = wrap_dim(dim, x.dim(), "sum");
  Tensor out = sum_dim_forward(x, dim, keepdim, 1.0);
  return record("sum", {x}, {out}, [shape = x.shape(), dim, keepdim](const TensorList& g) {
    return TensorList{spread(g[0], shape, dim, keepdim, 1.0)};
  })[0];
}

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
  dim = wrap_dim(dim, x.dim(), "mean");
  const double factor = 1.0 / static_cast<double>(x.size(dim));
  Tensor out = sum_dim_forward(x, dim, keepdim, factor);
  return record("mean", {x}, {out}, [shape = x.shape(), dim, keepdim, factor](const TensorList& g) {
    return TensorList{spread(g[0], shape, dim, keepdim, factor)};
  })[0];
}

Tensor sum(const Tensor& x) {
  Tensor flat = x.reshape({x.numel()});
  Tensor out = sum_dim_forward(flat, 0, false, 1.0);
  return record("sum", {x}, {out}, [shape = x.shape()](const TensorList& g) {
    Tensor out = Tensor::empty(shape, g[0].dtype());
    out.copy_(g[0].expand(shape));
    return TensorList{out};
  })[0];
}

Tensor mean(const Tensor& x) {
  const double factor = 1.0 / static_cast<double>(std::max<int64_t>(x.numel(), 1));
  Tensor flat = x.reshape({x.numel()});
  Tensor out = sum_dim_forward(flat, 0, false, factor);
  return record("mean", {x}, {out}, [shape = x.shape(), factor](const TensorList& g) {
    Tensor flat_grad = spread(g[0], {numel_of(shape)}, 0, false, factor);
    return TensorList{flat_grad.view(shape)};
  })[0];
}

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  dim = wrap_dim(dim, x.dim(), "max");
  KILN_CHECK(x.size(dim) > 0, "max: dimension {} of {} is empty", dim, x.describe());
  const Tensor c = x.contiguous();
  const Split3 s = split_around(c.shape(), dim);
  Tensor out = Tensor::empty(reduced_shape(c.shape(), dim, keepdim), c.dtype());
  std::vector<int64_t> argmax(static_cast<size_t>(s.outer * s.inner));
  KILN_DISPATCH_FLOATING(c.dtype(), "max", [&] {
    cpu::max_middle(c.data<scalar_t>(), s.outer, s.n, s.inner, out.data<scalar_t>(), argmax.data());
  });
  return record("max", {x}, {out}, [shape = c.shape(), s, argmax = std::move(argmax)](const TensorList& g) {
    Tensor grad = Tensor::zeros(shape, g[0].dtype());
    const Tensor gc = g[0].contiguous();
    KILN_DISPATCH_FLOATING(grad.dtype(), "max", [&] {
      cpu::max_middle_backward(gc.data<scalar_t>(), argmax.data(), s.outer, s.n, s.inner, grad.data<scalar_t>());
    });
    return TensorList{grad};
  })[0];
}

}  // namespace kiln::ops
