#pragma once
// Vision-language samples laid out as one training batch (SPEC-VLM §5.2–§6):
// the byte vocabulary plus four special tokens, each sample's token sequence
// with its images' placeholders expanded, answer-only targets shifted inside
// the sample, M-RoPE ids restarting at 0 per sample, and the images' merge-
// ordered patches with one attention segment each. Two layouts of the same
// samples:
//  - rmpad: every sample concatenated into one row [1, N_t] with cu_seqlens
//    (lmms-engine's use_rmpad: no padding at all);
//  - padded: one row per sample, right-padded to the longest [S, L_max] with
//    the pad id, targets −100 and M-RoPE ids 1 at pad slots (as Qwen's
//    get_rope_index leaves them).
//  - padded_all: the padded text rows, and the images padded too, each to the
//    largest image's patch count with a key mask (a batch of images as a
//    [images, n_max] tensor, the layout without any padding removal).
// Causal attention never lets a real token see a right pad, and masked keys
// are never attended, so every layout gives the same logits at real
// positions, loss and gradients.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kiln/tensor/tensor.hpp"

namespace kiln::data {

// kiln's byte tokenizer (ids 0–255) and the special tokens, with Qwen2-VL's
// names (its ids: 151643, 151652, 151653, 151655).
struct VlmTokens {
  static constexpr int64_t endoftext = 256;  // end of the answer; also the pad id
  static constexpr int64_t vision_start = 257;
  static constexpr int64_t vision_end = 258;
  static constexpr int64_t image_pad = 259;
  static constexpr int64_t vocabulary = 260;
};

// An image as merge-ordered patches: [grid_height·grid_width, patch_dim]
// (see cpu::patchify_merge_order).
struct SampleImage {
  int64_t grid_height = 0, grid_width = 0;
  std::vector<float> patches;
  int64_t patch_count() const { return grid_height * grid_width; }
};

// `images` (each as <|vision_start|> <|image_pad|>×k <|vision_end|>), then
// `prompt`, then `answer` and <|endoftext|>. Only the answer bytes and the
// end token are targets.
struct VlmSample {
  std::vector<SampleImage> images;
  std::string prompt;
  std::string answer;
};

// Token ids and unshifted labels (−100 where nothing is predicted) of one sample.
struct SampleText {
  std::vector<int64_t> tokens, labels;
};
// `patches_per_token`: m² for a 2×2 merger, 1 for a projector that keeps every patch.
SampleText sample_text(const VlmSample& sample, int64_t patches_per_token);
// Vision tokens (patches) and language-model tokens of a sample: its two packing budgets.
int64_t sample_vision_tokens(const VlmSample& sample);
int64_t sample_llm_tokens(const VlmSample& sample, int64_t patches_per_token);

enum class VlmLayout { rmpad, padded, padded_all };

struct VlmBatch {
  Tensor patches;            // f32 [N_v, patch_dim], images in sample order
  Tensor vision_positions;   // i64 [2, N_v]: each patch's grid row and column
  Tensor vision_cu_seqlens;  // i32 [images + 1]: one attention segment per image
  Tensor vision_key_mask;    // padded_all: u8 [images, n_max], 1 = a real patch; else undefined
  Tensor vision_rows;        // padded_all: i64 [real patches], their rows in `patches`; else undefined
  std::vector<int64_t> image_grids;  // (grid_height, grid_width) per image, flattened
  Tensor tokens;             // i64 [1, N_t] (rmpad) or [S, L_max] (padded)
  Tensor targets;            // same shape; −100 = no loss
  Tensor positions;          // i64 [3, 1, N_t] or [3, S, L_max]: M-RoPE (t, h, w)
  Tensor cu_seqlens;         // i32 [S + 1] (rmpad); undefined when padded
  Tensor placeholder_rows;   // i64 [N_v / patches_per_token]: flat index of each <|image_pad|>, in order
  int64_t target_count = 0;  // targets that are not −100
  int64_t real_tokens = 0;   // Σ L_s
  int64_t token_slots = 0;   // tokens.numel(): real tokens plus padding
};

// The batch of `samples` in `layout`. `first_sample` numbers samples in errors.
VlmBatch make_vlm_batch(std::span<const VlmSample> samples, int64_t patches_per_token, VlmLayout layout,
                        int64_t first_sample = 0);

}  // namespace kiln::data
