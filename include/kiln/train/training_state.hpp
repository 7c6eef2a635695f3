#pragma once
// What a training loop needs to continue where it stopped, in
// <run>/trainer_state/: trainer_state.json (progress and the options that fix
// the schedule) and trainer_state.safetensors (every parameter under
// "model.<name>", the AdamW moments under "optimizer.<key>"). The folder is
// written staged, so a crash while saving keeps the previous state.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/optim/optimizer.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::train {

std::filesystem::path training_state_dir(const std::filesystem::path& run_dir);

// `progress` holds at least "step"; `schedule` the options a resumed run must share.
void save_training_state(const std::filesystem::path& run_dir, const nlohmann::json& progress,
                         const nlohmann::json& schedule, const std::map<std::string, Tensor>& parameters,
                         const optim::AdamW& adamw);

// Copies the saved parameters into `parameters` (in place, so the model sees
// them) and the moments into `adamw`; returns the saved progress. A missing
// state, a different schedule or a parameter of another name or shape is an
// error naming the run folder.
nlohmann::json restore_training_state(const std::filesystem::path& run_dir, const nlohmann::json& schedule,
                                      const std::map<std::string, Tensor>& parameters, optim::AdamW& adamw);

// Opens a metrics.jsonl for appending: empty for a fresh run; for a resumed
// one, holding only the lines up to `resumed_step` (the steps after the saved
// state ran once already and are about to run again).
std::ofstream open_metrics(const std::filesystem::path& path, bool resume, int64_t resumed_step);

}  // namespace kiln::train
