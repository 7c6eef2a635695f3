#pragma once
// CPC's configuration as kiln reads and writes it: the [model] table of a
// run's TOML and the run's config.json, every field checked on reading.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/io/config_file.hpp"
#include "kiln/models/cpc/cpc.hpp"

namespace kiln::models {

CpcConfig read_cpc_config(io::ConfigFile& file);
// `window`: the training window in samples, kept so that a reader knows the frames' context.
nlohmann::json cpc_config_json(const CpcConfig& config, int64_t window);
CpcConfig cpc_config_from_json(const nlohmann::json& json, const std::string& source);

}  // namespace kiln::models
