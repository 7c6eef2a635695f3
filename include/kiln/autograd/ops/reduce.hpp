#pragma once
// Differentiable reductions (f32, f64; sums accumulate in f64).
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

Tensor sum(const Tensor& x);  // all elements → scalar
Tensor mean(const Tensor& x);
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
// Maximum along dim; the gradient flows to the first maximal element.
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);

}  // namespace kiln::ops
