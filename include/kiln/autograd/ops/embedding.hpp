#pragma once
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

// Rows of weight [V, d] gathered by integer ids (i32 or i64, any shape) →
// [..., d]. Backward scatter-adds into the weight's gradient.
Tensor embedding(const Tensor& weight, const Tensor& ids);

}  // namespace kiln::ops
