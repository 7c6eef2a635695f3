#include "kiln/autograd/ops/shape.hpp"

#include <numeric>

#include "kiln/autograd/function.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor out = x.reshape(shape);
  return record("reshape", {x}, {out}, [in = x.shape()](const TensorList& g) {
    return TensorList{g[0].reshape(in)};
  })[0];
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& order) {
  Tensor out = x.permute(order);
  std::vector<int64_t> inverse(order.size());
  for (size_t i = 0; i < order.size(); ++i) inverse[wrap_dim(order[i], x.dim(), "permute")] = static_cast<int64_t>(i);
  return record("permute", {x}, {out}, [inverse](const TensorList& g) { return TensorList{g[0].permute(inverse)}; })[0];
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  Tensor out = x.transpose(d0, d1);
  return record("transpose", {x}, {out}, [d0, d1](const TensorList& g) { return TensorList{g[0].transpose(d0, d1)}; })[0];
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  Tensor out = x.narrow(dim, start, length);
  return record("narrow", {x}, {out}, [in = x.shape(), dtype = x.dtype(), dim, start, length](const TensorList& g) {
    Tensor grad = Tensor::zeros(in, dtype);
    grad.narrow(dim, start, length).copy_(g[0]);
    return TensorList{grad};
  })[0];
}

Tensor expand(const Tensor& x, const Shape& shape) {
  Tensor out = x.expand(shape);
  return record("expand", {x}, {out},
                [in = x.shape()](const TensorList& g) { return TensorList{autograd::sum_to_shape(g[0], in)}; })[0];
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = x.contiguous();
  return record("contiguous", {x}, {out}, [](const TensorList& g) { return TensorList{g[0]}; })[0];
}

Tensor concat(const std::vector<Tensor>& parts, int64_t dim) {
  KILN_CHECK(!parts.empty(), "concat: no tensors given");
  dim = wrap_dim(dim, parts[0].dim(), "concat");
  Shape shape = parts[0].shape();
  shape[dim] = 0;
  std::vector<int64_t> sizes;
  for (const Tensor& p : parts) {
    check_same_dtype(parts[0], p, "concat");
    KILN_CHECK(p.dim() == parts[0].dim(), "concat: ranks of {} and {} differ", parts[0].describe(), p.describe());
    for (int64_t d = 0; d < p.dim(); ++d)
      KILN_CHECK(d == dim || p.size(d) == parts[0].size(d), "concat: {} and {} differ outside dimension {}",
                 parts[0].describe(), p.describe(), dim);
    sizes.push_back(p.size(dim));
    shape[dim] += p.size(dim);
  }
  Tensor out = Tensor::empty(shape, parts[0].dtype());
  int64_t at = 0;
  for (const Tensor& p : parts) {
    out.narrow(dim, at, p.size(dim)).copy_(p);
    at += p.size(dim);
  }
  return record("concat", parts, {out}, [sizes, dim](const TensorList& g) {
    TensorList grads;
    int64_t start = 0;
    for (int64_t s : sizes) {
      grads.push_back(g[0].narrow(dim, start, s));
      start += s;
    }
    return grads;
  })[0];
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  dim = wrap_dim(dim, x.dim(), "split");
  const int64_t total = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
  KILN_CHECK(total == x.size(dim), "split: sizes add up to {} but dimension {} of {} is {}", total, dim,
             x.describe(), x.size(dim));
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(narrow(x, dim, at, s));
    at += s;
  }
  return out;
}

}  // namespace kiln::ops
