#pragma once
// Differentiable resampling along one axis, as PyTorch 1.13's F.interpolate
// with align_corners = false (kernels/cpu/interpolate.hpp): linear or cubic.
// A 2D bilinear or bicubic resize is two of these (the kernels are
// separable); NaViT's fractional positions resize 1-D tables, a ViT's learned
// position grid is resized bicubically for a new resolution.
#include <cstdint>

#include "kiln/kernels/cpu/interpolate.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

// x with axis `dim` resampled to `size` samples (f32, f64). The backward
// applies the transposed resize matrix.
Tensor resize(const Tensor& x, int64_t dim, int64_t size, cpu::Interpolation mode);

}  // namespace kiln::ops
