#pragma once
// BERT's configuration as kiln reads and writes it: the [model] table of a
// run's TOML, and config.json in Hugging Face's field names. Both readers
// check every field's type and range, so a hand-edited or hostile file is a
// one-line error naming the file and the field.
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/io/config_file.hpp"
#include "kiln/models/bert/bert.hpp"

namespace kiln::models {

// The architecture fields of [model] (the vocabulary and classes come from the data).
BertConfig read_bert_config(io::ConfigFile& file);
nlohmann::json bert_config_json(const BertConfig& config);
BertConfig bert_config_from_json(const nlohmann::json& json, const std::string& source);

}  // namespace kiln::models
