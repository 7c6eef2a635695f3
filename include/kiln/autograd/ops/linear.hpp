#pragma once
// Differentiable matrix products.
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

// a: [..., m, k], b: [..., k, n] with the same leading dims, or b: [k, n]
// shared by every batch entry. trans_a / trans_b use the last two dims
// transposed without copying.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// x: [..., in], weight: [out, in] (PyTorch layout), bias: [out] or undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});

}  // namespace kiln::ops
