#pragma once
// The native-resolution vision encoder's configuration (SPEC-VLM §5.1, §8
// [vision]): Qwen2-VL's ViT at kiln's sizes, with the position scheme as a
// choice (§1.5, §2).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::models {

// How a token's grid (row, col) enters the encoder:
//  - rope2d: Qwen2-VL's 2D rotary embedding on q and k (no table);
//  - factorized: x += φ_row[r] + φ_col[c] (NaViT), absolute indices below
//    max_rows / max_cols;
//  - factorized_fractional: the same tables, each first resampled linearly to
//    the image's grid height or width (NaViT's fractional coordinates);
//  - learned: one max_rows×max_cols grid of vectors resampled bicubically to
//    each image's grid (the usual ViT resize, §2.2).
enum class VisionPositions { rope2d, factorized, factorized_fractional, learned };
enum class VisionActivation { gelu, quick_gelu };  // erf GELU; x·σ(1.702x) (Qwen2-VL's choice)

VisionPositions parse_vision_positions(std::string_view text);
std::string_view vision_positions_name(VisionPositions positions);
VisionActivation parse_vision_activation(std::string_view text);
std::string_view vision_activation_name(VisionActivation activation);

struct VisionConfig {
  int64_t patch_size = 4;
  int64_t merge_size = 2;  // the merger's m: every image's grid is a multiple of it
  int64_t channels = 1;
  int64_t d_model = 64;
  int64_t n_layer = 4;
  int64_t n_head = 4;
  int64_t mlp_dim = 128;
  VisionPositions positions = VisionPositions::rope2d;
  VisionActivation hidden_act = VisionActivation::gelu;
  double norm_eps = 1e-6;
  double rope_theta = 10000;
  // Window attention (SPEC-VLM §4): 0 off; else windows of `window`×`window`
  // patches (a multiple of merge_size) in every layer but full_attention_layers.
  int64_t window = 0;
  std::vector<int64_t> full_attention_layers;
  int64_t max_rows = 16;  // factorized tables and the learned grid
  int64_t max_cols = 16;
  double init_std = 0.02;

  int64_t head_dim() const { return d_model / n_head; }
  int64_t patch_dim() const { return channels * patch_size * patch_size; }
  bool has_position_tables() const { return positions != VisionPositions::rope2d; }
  bool windowed(int64_t layer) const;  // layer attends inside windows
  void validate() const;            // kiln::Error naming the first bad vision.* key
  int64_t parameter_count() const;  // the encoder's parameters (no head)
};

}  // namespace kiln::models
