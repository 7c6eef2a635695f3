#pragma once
// The training loop every kiln trainer runs: AdamW with a named learning-rate
// schedule, global-norm clipping, a NaN stop naming the step, one JSON line
// per step in metrics.jsonl (resume-safe), the progress line, evaluation and
// save points, `--resume` with bit-exact continuation, and rank 0 alone
// writing under MPI. A model family supplies its step (batch → loss, backward
// done) and, if it has them, its evaluation and its own checkpoint format.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/optim/optimizer.hpp"
#include "kiln/optim/schedule.hpp"
#include "kiln/tensor/tensor.hpp"
#include "kiln/train/communicator.hpp"

namespace kiln::train {

struct LoopOptions {
  std::string label = "train";  // the progress bar's name
  int64_t steps = 1000;         // optimizer steps: the schedule's length
  int64_t stop_after = 0;       // > 0: stop after this step, state saved (to test resuming)
  // > 0: the steps walk epochs of a data set of this many batches; records
  // carry "epoch", and the end of every epoch is an evaluation.
  int64_t steps_per_epoch = 0;
  optim::LrSchedule schedule = {};
  optim::AdamWOptions adamw = {};
  double grad_clip = 1.0;      // 0: no clipping
  int64_t eval_every = 0;      // 0: at the end of each epoch (epoch loops), else after the last step only
  int64_t save_every = 0;      // 0: at every evaluation
  int64_t log_every = 0;       // a line every N steps when stderr is not a terminal; 0: at evaluations
  std::string unit = "items";  // throughput unit: "<unit>_per_s" in metrics.jsonl
  int64_t items_per_step = 1;
  uint64_t seed = 0;           // the batches' seed
  bool resume = false;         // continue from the saved state
  // The options a resumed run must share, kept with the state; null: the
  // length, seed, peak rate, warm-up, decay and step size.
  nlohmann::json identity = {};
};

struct StepLoss {
  double loss = 0;   // what is logged
  double total = 0;  // what was back-propagated (auxiliary terms included): not finite stops the run
};

// The step's end for a family with one loss term: back-propagates it and reports it.
StepLoss backward_loss(const Tensor& loss);

struct LoopHooks {
  // Required: forward and backward of one optimizer step, every micro-batch
  // of it, with the batch drawn from the step number alone (so a resumed run
  // meets the same batches). May add fields to the step's record.
  std::function<StepLoss(int64_t step, nlohmann::json& record)> step = {};
  // At evaluation points; adds its figures to the record (val_*).
  std::function<void(int64_t step, nlohmann::json& record)> evaluate = {};
  // Clipping whose norm spans processes; default: the trained parameters' global norm.
  std::function<double(double max_norm)> clip = {};
  // After the optimizer's update: updates that are no gradient step (the MoE routing bias).
  std::function<void(int64_t step, nlohmann::json& record)> after_update = {};
  // A family with its own checkpoint format saves and restores through these;
  // the default is <run>/trainer_state (training_state.hpp). `save` returns
  // where it wrote; `restore` loads the optimizer's moments and returns the
  // saved progress ({"step", "loss"}).
  std::function<std::string(int64_t step, const nlohmann::json& record, const optim::AdamW& adamw)> save = {};
  std::function<nlohmann::json(optim::AdamW& adamw)> restore = {};
};

struct LoopResult {
  int64_t first_step = 0;       // where this run started (0, or the resumed step)
  int64_t last_step = 0;        // the last finished step
  double seconds = 0;
  double items_per_second = 0;  // this run's items over its wall time up to the last step (evaluations included)
  double last_loss = 0;
  nlohmann::json last_record;   // the last step's metrics line
};

// Trains `trained` (the parameters AdamW updates) with the hooks' step.
// `parameters` is what the default state holds (trained ones and those moved
// by other rules). An empty `run_dir` writes nothing (probes of a few seconds).
// With a communicator of several ranks only rank 0 writes and prints; the
// hooks do the ranks' collective work.
LoopResult run_training_loop(const std::map<std::string, Tensor>& parameters,
                             const std::map<std::string, Tensor>& trained, const LoopHooks& hooks,
                             const LoopOptions& options, const std::filesystem::path& run_dir,
                             Communicator* comm = nullptr);

}  // namespace kiln::train
