#pragma once
// TEMPORARY: resampling of image batches with stb_image_resize until the
// data layer's own resampling (SPEC-VLM §1.1) is available; then its callers
// switch to it and this file goes.
#include <cstdint>

#include "kiln/tensor/tensor.hpp"

namespace kiln::train {

// images f32 [B, C, H, W] → [B, C, height, width], each plane resampled by
// stbir_resize_float_generic: triangle filter (antialiased when shrinking),
// clamped edges, linear colour space. The same size returns the input.
Tensor resize_image_batch(const Tensor& images, int64_t height, int64_t width);

}  // namespace kiln::train
