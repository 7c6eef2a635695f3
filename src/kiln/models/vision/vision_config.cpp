#include "kiln/models/vision/vision_config.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "kiln/base/error.hpp"

namespace kiln::models {

namespace {

constexpr std::array<std::pair<VisionPositions, std::string_view>, 4> kPositions{{
    {VisionPositions::rope2d, "rope2d"},
    {VisionPositions::factorized, "factorized"},
    {VisionPositions::factorized_fractional, "factorized_fractional"},
    {VisionPositions::learned, "learned"},
}};
constexpr std::array<std::pair<VisionActivation, std::string_view>, 2> kActivations{{
    {VisionActivation::gelu, "gelu"},
    {VisionActivation::quick_gelu, "quick_gelu"},
}};

}  // namespace

VisionPositions parse_vision_positions(std::string_view text) {
  for (const auto& [value, name] : kPositions)
    if (name == text) return value;
  fail("vision.positions must be rope2d, factorized, factorized_fractional or learned, got '{}'", text);
}

std::string_view vision_positions_name(VisionPositions positions) {
  for (const auto& [value, name] : kPositions)
    if (value == positions) return name;
  return "?";
}

VisionActivation parse_vision_activation(std::string_view text) {
  for (const auto& [value, name] : kActivations)
    if (name == text) return value;
  fail("vision.hidden_act must be gelu or quick_gelu, got '{}'", text);
}

std::string_view vision_activation_name(VisionActivation activation) {
  for (const auto& [value, name] : kActivations)
    if (value == activation) return name;
  return "?";
}

void VisionConfig::validate() const {
  KILN_CHECK(patch_size >= 1 && merge_size >= 1, "vision.patch_size ({}) and vision.merge_size ({}) must be positive",
             patch_size, merge_size);
  KILN_CHECK(channels >= 1 && channels <= 4, "vision.channels must be 1 to 4, got {}", channels);
  KILN_CHECK(d_model >= 1 && n_head >= 1 && d_model % n_head == 0,
             "vision.d_model ({}) must be a positive multiple of vision.n_head ({})", d_model, n_head);
  KILN_CHECK(positions != VisionPositions::rope2d || head_dim() % 4 == 0,
             "vision.positions = rope2d needs a head dimension divisible by 4: vision.d_model / vision.n_head = {}",
             head_dim());
  KILN_CHECK(n_layer >= 1 && mlp_dim >= 1, "vision.n_layer and vision.mlp_dim must be positive");
  KILN_CHECK(max_rows >= 1 && max_cols >= 1, "vision.max_rows ({}) and vision.max_cols ({}) must be positive",
             max_rows, max_cols);
  KILN_CHECK(norm_eps > 0 && rope_theta > 1 && init_std > 0, "vision.norm_eps, vision.rope_theta and init_std out of range");
  KILN_CHECK(window >= 0 && window % merge_size == 0, "vision.window = {} must be 0 (off) or a multiple of vision.merge_size {}",
             window, merge_size);
  for (int64_t layer : full_attention_layers)
    KILN_CHECK(layer >= 0 && layer < n_layer, "vision.full_attention_layers: {} {} vision.n_layer {}", layer,
               layer < 0 ? "<" : "≥", layer < 0 ? 0 : n_layer);
}

bool VisionConfig::windowed(int64_t layer) const {
  return window > 0 &&
         std::find(full_attention_layers.begin(), full_attention_layers.end(), layer) == full_attention_layers.end();
}

int64_t VisionConfig::parameter_count() const {
  const int64_t d = d_model, m = mlp_dim;
  const int64_t block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * m + m) + (m * d + d);
  int64_t tables = 0;
  if (positions == VisionPositions::factorized || positions == VisionPositions::factorized_fractional)
    tables = (max_rows + max_cols) * d;
  else if (positions == VisionPositions::learned)
    tables = max_rows * max_cols * d;
  return patch_dim() * d + tables + n_layer * block;
}

}  // namespace kiln::models
