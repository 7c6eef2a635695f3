#pragma once
// Checkpoint folders, as a Hugging Face user expects them:
//   config.json                   the model configuration
//   model.safetensors             weights, Hugging Face names
//   trainer_state.json            step, run configuration, metrics at save time
//   trainer_state.safetensors     optimizer moments
//   tokenizer/                    the tokenizer's own files
// A folder is written under a temporary name and renamed into place, so a
// crash never leaves a half-written checkpoint; `latest` names the newest.
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/io/safetensors.hpp"
#include "kiln/models/gpt/config.hpp"

namespace kiln::train {

struct Checkpoint {
  models::GptConfig config;
  io::TensorMap weights;
  io::TensorMap optimizer;       // empty when not saved
  nlohmann::json trainer_state;  // empty object when not saved
  std::filesystem::path folder;
};

// Writes <run_dir>/checkpoints/step-<N>/ and points <run_dir>/checkpoints/latest at it.
std::filesystem::path save_checkpoint(const std::filesystem::path& run_dir, int64_t step,
                                      const models::GptConfig& config, const io::TensorMap& weights,
                                      const io::TensorMap& optimizer, const nlohmann::json& trainer_state,
                                      const std::filesystem::path& tokenizer_dir);
// `path` is a checkpoint folder or a run folder (then its latest checkpoint).
Checkpoint load_checkpoint(const std::filesystem::path& path, bool with_optimizer);
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& run_dir);

}  // namespace kiln::train
