#pragma once
// The decoder's configuration as kiln reads and writes it: the [model] table
// of a run's TOML (ranges checked), and config.json in the field names of
// Hugging Face's LlamaForCausalLM, GPT2LMHeadModel and DeepseekV3ForCausalLM.
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/io/config_file.hpp"
#include "kiln/models/gpt/config.hpp"

namespace kiln::models {

// max_seq_len stays 0 when the file leaves it out: the trainer sets it to the context.
GptConfig read_gpt_config(io::ConfigFile& file);
nlohmann::json gpt_config_json(const GptConfig& config);
// Every field checked for presence, type and range (GptConfig::validate).
GptConfig gpt_config_from_json(const nlohmann::json& json, const std::string& source);

}  // namespace kiln::models
