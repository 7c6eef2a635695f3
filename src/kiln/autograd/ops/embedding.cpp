#include "kiln/autograd/ops/embedding.hpp"

#include "kiln/autograd/function.hpp"
#include "kiln/kernels/cpu/rows.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  KILN_CHECK(weight.dim() == 2, "embedding: weight must be [V, d], got {}", weight.describe());
  KILN_CHECK(ids.dtype() == DType::i64 || ids.dtype() == DType::i32, "embedding: ids must be i32 or i64, got {}",
             ids.describe());
  const Tensor index = ids.to(DType::i64).contiguous();
  const Tensor w = weight.contiguous();
  const int64_t vocab = w.size(0), d = w.size(1), n = index.numel();
  const int64_t* idx = index.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    KILN_CHECK(idx[i] >= 0 && idx[i] < vocab, "embedding: id {} is outside the vocabulary of {}", idx[i], vocab);
  Shape out_shape = ids.shape();
  out_shape.push_back(d);
  Tensor out = Tensor::empty(out_shape, w.dtype());
  cpu::gather_rows(w.raw_data(), idx, n, static_cast<size_t>(d) * dtype_size(w.dtype()), out.raw_data());
  return record("embedding", {weight, ids}, {out}, [index, shape = w.shape(), dtype = w.dtype()](const TensorList& g) {
    Tensor grad = Tensor::zeros(shape, dtype);
    const Tensor gc = g[0].contiguous();
    const int64_t d = shape[1], n = index.numel();
    const int64_t* idx = index.data<int64_t>();
    KILN_DISPATCH_FLOATING(dtype, "embedding", [&] {
      cpu::scatter_add_rows(gc.data<scalar_t>(), idx, n, d, grad.data<scalar_t>());
    });
    return TensorList{grad, Tensor()};
  })[0];
}

Tensor scatter_add_rows(const Tensor& src, const Tensor& index, int64_t rows) {
  KILN_CHECK(src.dim() == 2 && index.dim() == 1 && index.size(0) == src.size(0),
             "scatter_add_rows: src must be [n, d] and index [n], got {} and {}", src.describe(), index.describe());
  const Tensor idx_t = index.to(DType::i64).contiguous();
  const Tensor s = src.contiguous();
  const int64_t n = s.size(0), d = s.size(1);
  const int64_t* idx = idx_t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    KILN_CHECK(idx[i] >= 0 && idx[i] < rows, "scatter_add_rows: row {} is outside [0, {})", idx[i], rows);
  Tensor out = Tensor::zeros({rows, d}, s.dtype());
  KILN_DISPATCH_FLOATING(s.dtype(), "scatter_add_rows", [&] {
    cpu::scatter_add_rows(s.data<scalar_t>(), idx, n, d, out.data<scalar_t>());
  });
  return record("scatter_add_rows", {src}, {out}, [idx_t](const TensorList& g) {
    return TensorList{embedding(g[0], idx_t)};
  })[0];
}

}  // namespace kiln::ops
