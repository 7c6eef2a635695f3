#pragma once
// The online action detectors' configurations (OadTR and the GRU baseline)
// as kiln reads and writes them: the [model] table of a run's TOML and the
// model fields of the run's config.json, every field checked on reading.
// The window and the class count come from the caller (they are shared with
// the data); the config.json written here is completed by the trainer with
// the feature source and the class names.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/io/config_file.hpp"
#include "kiln/models/oadtr/oadtr.hpp"

namespace kiln::models {

OadtrConfig read_oadtr_config(io::ConfigFile& file, int64_t window);
GruDetectorConfig read_gru_detector_config(io::ConfigFile& file, int64_t window);

nlohmann::json oadtr_config_json(const OadtrConfig& config);
nlohmann::json gru_detector_config_json(const GruDetectorConfig& config);
OadtrConfig oadtr_config_from_json(const nlohmann::json& json, int64_t window, int64_t classes,
                                   const std::string& source);
GruDetectorConfig gru_detector_config_from_json(const nlohmann::json& json, int64_t window, int64_t classes,
                                                const std::string& source);

}  // namespace kiln::models
