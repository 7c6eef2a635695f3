#include "kiln/train/lm_trainer.hpp"

#include <chrono>
#include <cmath>
#include <array>
#include <span>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/precision.hpp"
#include "kiln/base/error.hpp"
#include "kiln/kernels/cpu/bf16_gemm_choice.hpp"
#include "kiln/optim/optimizer.hpp"
#include "kiln/optim/schedule.hpp"
#include "kiln/models/gpt/config_io.hpp"
#include "kiln/train/checkpoint.hpp"
#include "kiln/train/expert_parallel.hpp"
#include "kiln/train/training_loop.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

int64_t counted_targets(const models::DecoderBatch& batch) {
  const int64_t* t = batch.targets.data<int64_t>();
  int64_t n = 0;
  for (int64_t i = 0; i < batch.targets.numel(); ++i) n += t[i] != -100;
  return n;
}

}  // namespace

LmTrainer::LmTrainer(models::GptModel& model, const LmBatches& batches, TrainOptions options, fs::path run_dir,
                     fs::path tokenizer_dir, nlohmann::json run_config, Communicator* comm)
    : model_(model), batches_(batches), options_(std::move(options)), run_dir_(std::move(run_dir)),
      tokenizer_dir_(std::move(tokenizer_dir)), run_config_(std::move(run_config)),
      own_comm_(comm == nullptr ? single_process_communicator() : nullptr),
      comm_(comm == nullptr ? own_comm_.get() : comm) {
  KILN_CHECK(options_.steps >= 1, "train.steps must be at least 1");
  KILN_CHECK(options_.grad_accum >= 1, "train.grad_accum must be at least 1");
  KILN_CHECK(options_.precision == "f32" || options_.precision == "bf16" || options_.precision == "fp8",
             "train.precision must be f32, bf16 or fp8, got '{}'", options_.precision);
  if (options_.expert_parallel && comm_->size() > 1) model_.enable_expert_parallel(make_expert_exchange(*comm_));
  schedule().at(0, options_.steps);  // an unknown schedule is an error before any work
  track_parameters();
  if (comm_->is_root()) fs::create_directories(run_dir_);
}

optim::AdamWOptions LmTrainer::adamw_options() const {
  return {.lr = options_.lr, .beta1 = options_.beta1, .beta2 = options_.beta2, .eps = options_.eps,
          .weight_decay = options_.weight_decay, .decay_rule = {}};
}

optim::LrSchedule LmTrainer::schedule() const {
  return {.kind = options_.schedule, .warmup = options_.warmup, .lr = options_.lr, .min_lr = options_.min_lr};
}

void LmTrainer::track_parameters() {
  trained_ = optim::gradient_trained(model_.parameters());
  reducer_.reset();  // unhook the old tensors first
  // Routed experts under expert parallelism already hold the gradient from every rank's tokens.
  std::map<std::string, Tensor> replicated;
  for (const auto& [name, p] : trained_)
    if (!model_.expert_parallel() || !models::is_routed_expert_parameter(name)) replicated.emplace(name, p);
  reducer_ = std::make_unique<GradientReducer>(*comm_, replicated);
}

void LmTrainer::resume(const fs::path& checkpoint_path) {
  const Checkpoint checkpoint = load_checkpoint(checkpoint_path, true);
  KILN_CHECK(models::gpt_config_json(checkpoint.config) == models::gpt_config_json(model_.config()),
             "{}: the checkpoint's model configuration differs from this run's", checkpoint.folder.string());
  if (model_.expert_parallel()) {
    io::TensorMap mine;  // this rank's experts and everything replicated
    for (const auto& [name, value] : checkpoint.weights)
      if (model_.parameters().count(name) != 0) mine.emplace(name, value);
    KILN_CHECK(mine.size() == model_.parameters().size(), "{}: the checkpoint lacks some of this rank's parameters",
               checkpoint.folder.string());
    model_.load_parameters(mine);
  } else {
    model_.load_parameters(checkpoint.weights);
  }
  track_parameters();  // the parameters were replaced: track the new tensors
  resumed_moments_ = checkpoint.optimizer;
  resumed_from_ = checkpoint.folder;
  start_step_ = checkpoint.trainer_state.value("step", int64_t{0});
  resumed_ = true;
}

double LmTrainer::lr_at(int64_t step) const { return schedule().at(step, options_.steps); }

double LmTrainer::mtp_lambda_at(int64_t step) const {
  const double switch_step = options_.mtp_lambda_switch * static_cast<double>(options_.steps);
  return static_cast<double>(step) < switch_step ? options_.mtp_lambda : options_.mtp_lambda_late;
}

Precision LmTrainer::compute_precision() const {
  if (options_.precision == "bf16") return Precision::bf16;
  if (options_.precision == "fp8") return Precision::fp8;
  return Precision::f32;
}

LmTrainer::StepLosses LmTrainer::train_step(int64_t step) {
  std::vector<models::DecoderBatch> micro;
  int64_t tokens = 0;
  for (int64_t m = 0; m < options_.grad_accum; ++m) {
    micro.push_back(batches_.train_batch(step, m, comm_->rank(), comm_->size()));
    tokens += counted_targets(micro.back());
  }
  // Every rank divides by the token count of the whole global step, so the
  // sum of the ranks' gradients is the single-process gradient.
  comm_->allreduce_sum(std::span<int64_t>(&tokens, 1));
  KILN_CHECK(tokens > 0, "step {}: the batch has no target tokens", step + 1);
  models::DecoderOptions forward;
  forward.gradient_checkpointing = options_.gradient_checkpointing;
  forward.loss_normalizer = tokens;
  forward.mtp_weight = mtp_lambda_at(step);
  PrecisionGuard precision(compute_precision());
  StepLosses loss;
  for (size_t m = 0; m < micro.size(); ++m) {
    const models::LossTerms part = model_.loss_terms(micro[m], forward);
    loss.total += part.total.item();
    loss.main += part.main;
    loss.mtp += part.mtp;
    loss.balance += part.balance;
    if (m + 1 == micro.size()) reducer_->arm();
    backward(part.total);
  }
  reducer_->finish();
  loss.communication_s = reducer_->communication_seconds();
  std::array<double, 4> sums{loss.total, loss.main, loss.mtp, loss.balance};
  comm_->allreduce_sum(std::span<double>(sums));
  loss.total = sums[0];
  loss.main = sums[1];
  loss.mtp = sums[2];
  // Each rank's balance term was weighted by its share of the tokens: the sum is the global mean.
  loss.balance = sums[3];
  return loss;
}

EvalResult LmTrainer::evaluate(int64_t batches_limit) const {
  NoGradGuard no_grad;
  PrecisionGuard precision(compute_precision());
  EvalResult result;
  std::array<double, 2> sums{0, 0};  // summed loss, tokens (over ranks: batch i goes to rank i mod size)
  const std::vector<models::DecoderBatch> all = batches_.validation_batches(batches_limit);
  const size_t ranks = static_cast<size_t>(comm_->size()), rounds = (all.size() + ranks - 1) / ranks;
  for (size_t round = 0; round < rounds; ++round) {
    const size_t i = round * ranks + static_cast<size_t>(comm_->rank());
    if (i < all.size()) {
      const auto [sum, count] = model_.loss_sum(all[i]);
      sums[0] += sum;
      sums[1] += static_cast<double>(count);
    } else if (model_.expert_parallel() && !all.empty()) {
      model_.loss_sum(all.front());  // MoE layers exchange rows: every rank runs as many forwards
    }
  }
  comm_->allreduce_sum(std::span<double>(sums));
  const double total = sums[0];
  result.tokens = static_cast<int64_t>(sums[1]);
  result.loss = result.tokens > 0 ? total / static_cast<double>(result.tokens) : 0;
  result.perplexity = std::exp(result.loss);
  return result;
}

fs::path LmTrainer::save(int64_t step, const nlohmann::json& metrics, const optim::AdamW& adamw) {
  // Every rank holds the same weights and moments: rank 0 writes, the others
  // wait so that no rank runs ahead of a checkpoint it might resume from.
  fs::path written = run_dir_ / "checkpoints" / "latest";
  io::TensorMap weights(model_.parameters().begin(), model_.parameters().end());
  io::TensorMap moments = adamw.state();
  if (model_.expert_parallel()) {  // every rank takes part: each owns some experts
    weights = gather_experts(*comm_, model_.config(), weights, {""});
    moments = gather_experts(*comm_, model_.config(), moments, {".exp_avg", ".exp_avg_sq"});
  }
  if (comm_->is_root()) {
    nlohmann::json state = {{"step", step}, {"config", run_config_}, {"metrics", metrics}, {"ranks", comm_->size()}};
    written = save_checkpoint(run_dir_, step, model_.config(), weights, moments, state, tokenizer_dir_);
  }
  comm_->barrier();
  return written;
}

TrainResult LmTrainer::run() {
  // Measured before the first step, so that the choice is said once and the probe is not timed as training.
  if (compute_precision() == Precision::bf16) {
    const std::string& choice = cpu::bf16_gemm_choice().reason;
    if (comm_->is_root()) fmt::print(stderr, "bf16: {}\n", choice);
  }
  LoopOptions loop;
  loop.steps = options_.steps;
  loop.stop_after = options_.stop_after;
  loop.schedule = schedule();
  loop.adamw = adamw_options();
  loop.grad_clip = options_.grad_clip;
  loop.eval_every = options_.eval_every;
  loop.save_every = options_.checkpoint_every;
  loop.log_every = options_.log_every;
  loop.unit = "tokens";
  loop.items_per_step = options_.grad_accum * batches_.tokens_per_batch();
  loop.resume = resumed_;
  TrainResult result;
  std::chrono::steady_clock::time_point step_start;
  StepLosses step_loss;
  LoopHooks hooks;
  hooks.step = [&](int64_t step, nlohmann::json& record) {
    step_start = std::chrono::steady_clock::now();
    step_loss = train_step(step);
    if (model_.config().mtp_depth > 0) {
      record["mtp_loss"] = step_loss.mtp;
      record["mtp_lambda"] = mtp_lambda_at(step);
    }
    return train::StepLoss{step_loss.main, step_loss.total};
  };
  if (model_.expert_parallel())
    hooks.clip = [&](double max_norm) {
      return clip_grad_norm_expert_parallel(*comm_, model_.parameters(), max_norm);
    };
  hooks.after_update = [&](int64_t, nlohmann::json& record) {
    // Auxiliary-loss-free balancing: once per optimizer step, from the loads of all its micro-batches.
    models::ExpertLoads loads = model_.take_expert_loads();
    for (auto& [layer, load] : loads) comm_->allreduce_sum(std::span<int64_t>(load));  // global loads, same update everywhere
    const std::map<int64_t, double> imbalance = model_.update_router_bias(loads);
    const double step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
    if (comm_->size() > 1) {
      record["ranks"] = comm_->size();
      record["comm_s"] = step_loss.communication_s;
      record["comm_fraction"] = step_s > 0 ? step_loss.communication_s / step_s : 0.0;
    }
    if (!imbalance.empty()) {
      nlohmann::json per_layer = nlohmann::json::object();
      double worst = 0;
      for (const auto& [layer, ratio] : imbalance) {
        per_layer[std::to_string(layer)] = ratio;
        worst = std::max(worst, ratio);
      }
      record["expert_load_max_mean"] = per_layer;
      record["expert_load_max_mean_worst"] = worst;
      record["balance_loss"] = step_loss.balance;
    }
  };
  hooks.evaluate = [&](int64_t, nlohmann::json& record) {
    result.last_eval = evaluate(options_.eval_batches);
    record["val_loss"] = result.last_eval.loss;
    record["val_ppl"] = result.last_eval.perplexity;
  };
  hooks.save = [&](int64_t step, const nlohmann::json& record, const optim::AdamW& adamw) {
    return save(step, record, adamw).string();
  };
  hooks.restore = [&](optim::AdamW& adamw) {
    adamw.load_state(resumed_moments_);
    KILN_CHECK(start_step_ == adamw.steps(), "{}: trainer step {} and optimizer step {} disagree",
               resumed_from_.string(), start_step_, adamw.steps());
    resumed_moments_.clear();
    return nlohmann::json{{"step", start_step_}};
  };
  const LoopResult loop_result = run_training_loop(model_.parameters(), trained_, hooks, loop, run_dir_, comm_);
  result.last_step = loop_result.last_step;
  result.last_train_loss = loop_result.last_loss;
  result.tokens_per_second = loop_result.items_per_second;
  return result;
}

}  // namespace kiln::train
