#pragma once
// The ViT's and MAE's configurations as kiln reads and writes them: the
// [model] table of a run's TOML, and config.json in Hugging Face's field
// names (ViTForImageClassification, ViTMAEForPreTraining). Every field read
// from a file is checked for type and range.
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/io/config_file.hpp"
#include "kiln/models/mae/mae.hpp"
#include "kiln/models/vit/vit.hpp"

namespace kiln::models {

// `sincos_default`: the default of model.sincos_positions (on for MAE encoders).
VitConfig read_vit_config(io::ConfigFile& file, bool sincos_default);
// The decoder and masking fields of an MAE's [model]; the encoder is `encoder`.
MaeConfig read_mae_config(io::ConfigFile& file, const VitConfig& encoder);

nlohmann::json vit_config_json(const VitConfig& config);
VitConfig vit_config_from_json(const nlohmann::json& json, const std::string& source);
nlohmann::json mae_config_json(const MaeConfig& config);
MaeConfig mae_config_from_json(const nlohmann::json& json, const std::string& source);

}  // namespace kiln::models
