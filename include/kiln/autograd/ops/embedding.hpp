#pragma once
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

// Rows of weight [V, d] gathered by integer ids (i32 or i64, any shape) →
// [..., d]. Backward scatter-adds into the weight's gradient.
Tensor embedding(const Tensor& weight, const Tensor& ids);

// The transpose of embedding: out [rows, d] with out[index[i]] += src[i] for
// src [n, d] and index i64 [n]. Combines expert outputs back into tokens.
Tensor scatter_add_rows(const Tensor& src, const Tensor& index, int64_t rows);

}  // namespace kiln::ops
