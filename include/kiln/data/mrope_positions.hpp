#pragma once
// M-RoPE position ids (SPEC-VLM §5.3), a port of Qwen2-VL's get_rope_index
// (transformers, modeling_qwen2_vl.py) for still images: every token gets a
// (t, h, w) triple; text counts up on all three, an image's tokens share t and
// spread h and w over its grid, and text after an image resumes at the largest
// id so far plus one.
//
// This sits in the data layer, not in models: the ids depend only on token ids
// and image grids, never on parameters, so the batch builder computes them
// with the tokens (as Qwen's collators do), and models, which link data, can
// call it too (rope_delta for generation).
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace kiln::data {

// An image's grid after the patch merger: (patches high / merge, patches wide
// / merge), i.e. the number of <|image_pad|> tokens is height·width.
struct LlmGrid {
  int64_t height = 0, width = 0;
};

struct MropePositions {
  std::vector<int64_t> t, h, w;  // one id per token
  // largest id + 1 − number of tokens: in generation a new token at index i
  // gets t = h = w = i + rope_delta.
  int64_t rope_delta = 0;
};

// `tokens` holds one run of height·width `image_pad_id` tokens per image, in
// the order of `images`. `sample` names the sample in errors ("sample 5").
// Refuses a placeholder count that differs from the images' features and a
// run whose length differs from its image's grid.
MropePositions mrope_position_ids(std::span<const int64_t> tokens, int64_t image_pad_id,
                                  std::span<const LlmGrid> images, std::string_view sample = "sample");

}  // namespace kiln::data
