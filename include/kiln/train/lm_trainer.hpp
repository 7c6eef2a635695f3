#pragma once
// The training loop for decoder language models: AdamW, a learning-rate
// schedule, gradient accumulation with token-weighted loss, global-norm
// clipping, periodic validation, atomic checkpoints, metrics.jsonl and a
// progress line. Batch k is a pure function of (seed, k), so a run resumed
// from a checkpoint continues the very same loss curve.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/autograd/precision.hpp"
#include "kiln/models/gpt/model.hpp"
#include "kiln/optim/optimizer.hpp"
#include "kiln/optim/schedule.hpp"
#include "kiln/train/communicator.hpp"
#include "kiln/train/gradient_reducer.hpp"
#include "kiln/train/lm_batches.hpp"

namespace kiln::train {

struct TrainOptions {
  int64_t steps = 1000;
  int64_t grad_accum = 1;
  double lr = 3e-3;
  double min_lr = 3e-4;
  int64_t warmup = 50;
  std::string schedule = "cosine";  // cosine | linear | multistep | constant
  double weight_decay = 0.1;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;  // 0: off
  int64_t eval_every = 100;
  int64_t eval_batches = 20;
  int64_t checkpoint_every = 500;
  int64_t log_every = 10;
  bool gradient_checkpointing = false;
  std::string precision = "f32";  // f32 | bf16 (bf16 GEMMs) | fp8 (E4M3 block-scaled GEMMs, emulated); f32 master weights
  int64_t stop_after = 0;         // > 0: checkpoint and stop after this step (to test resume)
  // Multi-token prediction weight λ: mtp_lambda until this fraction of the
  // steps, then mtp_lambda_late (DeepSeek-V3: 0.3 for 10T of 14.8T tokens, then 0.1).
  double mtp_lambda = 0.3, mtp_lambda_late = 0.1, mtp_lambda_switch = 0.676;
  // Under mpirun: each rank keeps and runs only its share of the routed
  // experts, exchanging token rows (MPI_Alltoallv); the rest is data-parallel.
  bool expert_parallel = false;
};

struct EvalResult {
  double loss = 0;  // mean nats per token
  double perplexity = 0;
  int64_t tokens = 0;
};

struct TrainResult {
  int64_t last_step = 0;
  double last_train_loss = 0;
  EvalResult last_eval;
  double tokens_per_second = 0;
};

class LmTrainer {
 public:
  // With a communicator of several ranks the trainer is data-parallel: each
  // rank trains on its share of every global batch, gradients are summed
  // over ranks (overlapping backward), and rank 0 alone writes checkpoints,
  // metrics and progress. Without one it runs in this process alone.
  LmTrainer(models::GptModel& model, const LmBatches& batches, TrainOptions options, std::filesystem::path run_dir,
            std::filesystem::path tokenizer_dir, nlohmann::json run_config, Communicator* comm = nullptr);

  // Continues from a checkpoint folder written by this trainer, the latest or
  // an older one; run() then rewrites metrics.jsonl to the checkpoint's step
  // before logging the steps that follow, so each step is logged once.
  void resume(const std::filesystem::path& checkpoint);
  TrainResult run();
  EvalResult evaluate(int64_t batches_limit) const;
  double lr_at(int64_t step) const;
  double mtp_lambda_at(int64_t step) const;

 private:
  optim::AdamWOptions adamw_options() const;
  optim::LrSchedule schedule() const;
  void track_parameters();  // the trained parameters and the gradient reducer hooked on them
  Precision compute_precision() const;
  struct StepLosses {
    double total = 0, main = 0, mtp = 0, balance = 0;
    double communication_s = 0;  // blocked on gradient sums
  };
  StepLosses train_step(int64_t step);
  std::filesystem::path save(int64_t step, const nlohmann::json& metrics, const optim::AdamW& adamw);

  models::GptModel& model_;
  const LmBatches& batches_;
  TrainOptions options_;
  std::filesystem::path run_dir_, tokenizer_dir_;
  nlohmann::json run_config_;
  int64_t start_step_ = 0;
  bool resumed_ = false;
  std::map<std::string, Tensor> trained_;
  io::TensorMap resumed_moments_;  // the checkpoint's AdamW moments, loaded when the loop starts
  std::filesystem::path resumed_from_;
  std::unique_ptr<Communicator> own_comm_;
  Communicator* comm_;
  std::unique_ptr<GradientReducer> reducer_;
};

}  // namespace kiln::train
