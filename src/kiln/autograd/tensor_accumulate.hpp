#pragma once
#include "kiln/tensor/tensor.hpp"

namespace kiln::autograd {

// total += addend (same shape); returns total, allocating it if undefined.
Tensor accumulate(Tensor total, const Tensor& addend);

}  // namespace kiln::autograd
