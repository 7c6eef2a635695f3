#pragma once
// Learned absolute positions at a resolution they were not trained on: the
// G_h×G_w grid of position vectors resampled bicubically, as DeiT, MAE and
// timm do when fine-tuning at a new size (SPEC-VLM §2.2), with PyTorch 1.13's
// F.interpolate(mode='bicubic', align_corners=False) rule. Differentiable.
#include <cstdint>

#include "kiln/models/vit/vit.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

// grid [G_h, G_w, D] → [height, width, D]. The same size returns the values
// unchanged; a constant grid stays constant.
Tensor resize_position_grid(const Tensor& grid, int64_t height, int64_t width);

// A ViT's table [1, 1 + G², D] (the class token's row, then the G×G grid
// row-major) for a height×width grid of patches: [1, 1 + height·width, D],
// with the class row kept as it is.
Tensor resize_position_table(const Tensor& table, int64_t height, int64_t width);

// The same ViT for square images of `image_size` px (a multiple of its patch
// size): learned positions resized as above, sin-cos tables recomputed for
// the new grid, every other weight shared.
VitModel vit_at_image_size(const VitModel& model, int64_t image_size);

}  // namespace kiln::models
