#pragma once
// Pointwise activations with their derivatives.
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

enum class GeluApproximation { none, tanh };  // torch's approximate='none' / 'tanh'

Tensor gelu(const Tensor& x, GeluApproximation approximation = GeluApproximation::none);
Tensor silu(const Tensor& x);
// silu(gate) ⊙ up, fused (the SwiGLU FFN's inner product).
Tensor swiglu(const Tensor& gate, const Tensor& up);

}  // namespace kiln::ops
