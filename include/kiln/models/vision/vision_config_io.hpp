#pragma once
// The vision encoder's and the NaViT classifier's configurations as kiln
// reads and writes them: the [vision] table of a run's TOML (SPEC-VLM §8), and
// config.json with a Qwen2-VL-style "vision_config" (depth, embed_dim,
// num_heads, mlp_ratio, in_channels, patch_size, spatial_merge_size,
// temporal_patch_size = 1, hidden_act) plus a "kiln" block for what Qwen's
// has not (position scheme, tables, eps, theta). Every field read is checked
// for type and range.
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/io/config_file.hpp"
#include "kiln/models/vision/navit.hpp"
#include "kiln/models/vision/vision_config.hpp"

namespace kiln::models {

VisionConfig read_vision_config(io::ConfigFile& file);
// [vision] plus model.n_classes.
NavitConfig read_navit_config(io::ConfigFile& file);

nlohmann::json vision_config_json(const VisionConfig& config);
VisionConfig vision_config_from_json(const nlohmann::json& json, const std::string& source);
nlohmann::json navit_config_json(const NavitConfig& config);
NavitConfig navit_config_from_json(const nlohmann::json& json, const std::string& source);

}  // namespace kiln::models
