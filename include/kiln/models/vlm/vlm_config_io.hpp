#pragma once
// The vision-language model's configuration as kiln reads and writes it:
// [model] (the decoder and the projector) and [vision] of a run's TOML
// (SPEC-VLM §8), and config.json with model_type "kiln_vlm": Qwen2-VL's text
// fields, a Qwen-style "vision_config", rope_scaling {"type": "mrope",
// "mrope_section": [...]}, the special-token ids and the projector.
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/io/config_file.hpp"
#include "kiln/models/vlm/vlm_config.hpp"

namespace kiln::models {

VlmConfig read_vlm_config(io::ConfigFile& file);
nlohmann::json vlm_config_json(const VlmConfig& config);
// Every field checked for presence, type and range.
VlmConfig vlm_config_from_json(const nlohmann::json& json, const std::string& source);

}  // namespace kiln::models
