#pragma once
#include "kiln/base/philox.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

// Inverted dropout: element i is kept when philox_uniform(key, i) ≥ p and
// scaled by 1/(1−p). The mask is a pure function of (key, i), so backward —
// and a checkpointed recomputation — regenerate it instead of storing it.
Tensor dropout(const Tensor& x, double p, const PhiloxKey& key, bool training = true);

}  // namespace kiln::ops
