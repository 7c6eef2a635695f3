#pragma once
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

// Over the last dimension, shifted by the row maximum for stability.
Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);

}  // namespace kiln::ops
