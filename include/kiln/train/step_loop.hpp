#pragma once
// A training loop counted in optimizer steps, for models whose batches are
// drawn at random (CPC windows, detection windows, MLM windows): AdamW with
// warm-up + cosine or linear decay, gradient clipping, a NaN stop, one JSON
// line per step in metrics.jsonl, a progress bar, and an evaluation callback
// every N steps.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/tensor/tensor.hpp"

namespace kiln::train {

struct StepLoopOptions {
  int64_t steps = 1000;
  int64_t warmup_steps = 100;
  double lr = 2e-4, min_lr = 1e-6;
  bool linear_decay = false;  // after warm-up: linear to min_lr (BERT) instead of cosine
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999;
  double grad_clip = 1.0;     // 0: no clipping
  int64_t eval_every = 0;     // 0: only after the last step
  int64_t items_per_step = 1; // for the throughput figure
  std::string unit = "item";  // "frames", "windows"
  uint64_t seed = 0;          // the batches' seed, kept with the training state
  bool resume = false;        // continue from <run>/trainer_state (saved at every evaluation)
};

// The loss must draw its batch from the step number alone, so that a resumed
// run reaches the same weights as one that never stopped.
// Returns the step's loss (graph attached); may add fields to `record`.
using StepLoss = std::function<Tensor(int64_t step, nlohmann::json& record)>;
using StepEvaluation = std::function<void(int64_t step, nlohmann::json& record)>;

struct StepLoopResult {
  int64_t steps = 0;
  double seconds = 0;
  double items_per_second = 0;
  double last_loss = 0;
};

// Writes <run_dir>/metrics.jsonl and, after every evaluation, <run_dir>/trainer_state.
StepLoopResult run_step_loop(const std::map<std::string, Tensor>& parameters, const StepLoss& loss,
                             const StepLoopOptions& options, const std::filesystem::path& run_dir,
                             const StepEvaluation& evaluate = {});

}  // namespace kiln::train
