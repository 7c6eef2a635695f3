#pragma once
// One NaViT pack (SPEC-VLM §1.2, §1.3) as the vision encoder takes it: the
// patches of several images of any sizes, each image's patches in Qwen2-VL's
// merge-block-major order, one cu_v segment per image, and every token's grid
// (row, col).
#include <cstdint>
#include <span>
#include <vector>

#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

struct ImagePackTensors {
  Tensor patches;    // [N, C·P²], each patch flattened (c, i, j)
  Tensor cu_v;       // i32 [images + 1]: 0, n_0, n_0 + n_1, …, N
  Tensor positions;  // i64 [2, N]: grid row, then grid column of every token
};

// images: f32 [C, H, W] each, H and W multiples of patch·merge. Errors name
// the image: "image 3: 2×40 px is smaller than one 4-px patch", "image 0: 12×10
// patches is not a multiple of merge_size 2".
ImagePackTensors pack_image_tensors(std::span<const Tensor> images, int64_t patch, int64_t merge);

// The pack after NaViT's token dropping (SPEC-VLM §1.4): image i keeps the
// tokens kept[i] (indices into its own tokens, ascending, at least one), each
// with its patch and its (row, col); cu_v counts the kept tokens.
ImagePackTensors keep_tokens(const ImagePackTensors& pack, std::span<const std::vector<int32_t>> kept);

}  // namespace kiln::models
