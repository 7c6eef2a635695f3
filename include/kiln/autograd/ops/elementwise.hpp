#pragma once
// Differentiable elementwise arithmetic with NumPy broadcasting (f32, f64).
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor scale(const Tensor& x, double factor);      // x · factor
Tensor add_scalar(const Tensor& x, double value);  // x + value
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor square(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);

}  // namespace kiln::ops
