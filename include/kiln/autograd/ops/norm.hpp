#pragma once
// Normalisation over the last dimension, computed in f32 (or f64) whatever
// the storage, as the LLaMA and DeepSeek references do.
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

// y = (x − mean) / sqrt(var + eps) · weight + bias   (biased variance, like torch)
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
// y = x / sqrt(mean(x²) + eps) · weight   (eps inside the root)
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps);

}  // namespace kiln::ops
