#include "kiln/train/lm_trainer.hpp"

#include <chrono>
#include <cmath>
#include <array>
#include <fstream>
#include <optional>
#include <span>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/precision.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/progress.hpp"
#include "kiln/kernels/cpu/bf16_gemm_choice.hpp"
#include "kiln/optim/optimizer.hpp"
#include "kiln/optim/schedule.hpp"
#include "kiln/train/checkpoint.hpp"
#include "kiln/train/expert_parallel.hpp"
#include "kiln/train/training_state.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

struct LmTrainer::OptimizerHolder {
  optim::AdamW adamw;
};

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
  make_optimizer();
  if (comm_->is_root()) fs::create_directories(run_dir_);
}

void LmTrainer::make_optimizer() {
  optim::AdamWOptions adamw;
  adamw.lr = options_.lr;
  adamw.beta1 = options_.beta1;
  adamw.beta2 = options_.beta2;
  adamw.eps = options_.eps;
  adamw.weight_decay = options_.weight_decay;
  const std::map<std::string, Tensor> trained = optim::gradient_trained(model_.parameters());
  optimizer_ = std::make_shared<OptimizerHolder>(OptimizerHolder{optim::AdamW(trained, adamw)});
  reducer_.reset();  // unhook the old tensors first
  // Routed experts under expert parallelism already hold the gradient from every rank's tokens.
  std::map<std::string, Tensor> replicated;
  for (const auto& [name, p] : trained)
    if (!model_.expert_parallel() || !models::is_routed_expert_parameter(name)) replicated.emplace(name, p);
  reducer_ = std::make_unique<GradientReducer>(*comm_, replicated);
}

void LmTrainer::resume(const fs::path& checkpoint_path) {
  const Checkpoint checkpoint = load_checkpoint(checkpoint_path, true);
  KILN_CHECK(config_to_json(checkpoint.config) == config_to_json(model_.config()),
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
  make_optimizer();  // the parameters were replaced: track the new tensors
  optimizer_->adamw.load_state(checkpoint.optimizer);
  start_step_ = checkpoint.trainer_state.value("step", int64_t{0});
  resumed_ = true;
  KILN_CHECK(start_step_ == optimizer_->adamw.steps(), "{}: trainer step {} and optimizer step {} disagree",
             checkpoint.folder.string(), start_step_, optimizer_->adamw.steps());
}

double LmTrainer::lr_at(int64_t step) const {
  const auto& o = options_;
  if (o.schedule == "cosine") return optim::warmup_cosine(step, o.warmup, o.steps, o.lr, o.min_lr);
  if (o.schedule == "linear") return optim::warmup_linear(step, o.warmup, o.steps, o.lr, o.min_lr);
  if (o.schedule == "multistep") return optim::deepseek_multistep(step, o.warmup, o.steps, o.lr);
  if (o.schedule == "constant") return step < o.warmup ? o.lr * static_cast<double>(step + 1) / o.warmup : o.lr;
  fail("train.schedule must be cosine, linear, multistep or constant, got '{}'", o.schedule);
}

double LmTrainer::mtp_lambda_at(int64_t step) const {
  const double switch_step = options_.mtp_lambda_switch * static_cast<double>(options_.steps);
  return static_cast<double>(step) < switch_step ? options_.mtp_lambda : options_.mtp_lambda_late;
}

Precision LmTrainer::compute_precision() const {
  if (options_.precision == "bf16") return Precision::bf16;
  if (options_.precision == "fp8") return Precision::fp8;
  return Precision::f32;
}

LmTrainer::StepLoss LmTrainer::train_step(int64_t step) {
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
  StepLoss loss;
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

fs::path LmTrainer::save(int64_t step, const nlohmann::json& metrics) {
  // Every rank holds the same weights and moments: rank 0 writes, the others
  // wait so that no rank runs ahead of a checkpoint it might resume from.
  fs::path written = run_dir_ / "checkpoints" / "latest";
  io::TensorMap weights(model_.parameters().begin(), model_.parameters().end());
  io::TensorMap moments = optimizer_->adamw.state();
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
  TrainResult result;
  // A resumed run keeps the lines up to its checkpoint's step and drops the
  // rest, which the steps from here on log again (the checkpoint may be older
  // than the last logged step).
  std::ofstream metrics;
  if (comm_->is_root()) metrics = open_metrics(run_dir_ / "metrics.jsonl", resumed_, start_step_);
  // Measured before the first step, so that the choice is said once and the probe is not timed as training.
  if (compute_precision() == Precision::bf16) {
    const std::string& choice = cpu::bf16_gemm_choice().reason;
    if (comm_->is_root()) fmt::print(stderr, "bf16: {}\n", choice);
  }
  const auto start = std::chrono::steady_clock::now();
  int64_t tokens_seen = 0;
  const int64_t last = options_.stop_after > 0 ? std::min(options_.stop_after, options_.steps) : options_.steps;
  const bool root = comm_->is_root();
  std::optional<ProgressBar> bar;
  if (root) bar.emplace("train", options_.steps, "step");
  const bool terminal = ProgressBar::stderr_is_terminal();
  std::string last_checkpoint = "none yet";
  for (int64_t step = start_step_; step < last; ++step) {
    const double lr = lr_at(step);
    optimizer_->adamw.set_lr(lr);
    optimizer_->adamw.zero_grad();
    const auto step_start = std::chrono::steady_clock::now();
    const StepLoss step_loss = train_step(step);
    const double loss = step_loss.main;
    if (!std::isfinite(step_loss.total))
      fail("step {}: the training loss is {}; stopping. The last good checkpoint is {}", step + 1, step_loss.total,
           last_checkpoint);
    double grad_norm = 0;
    if (options_.grad_clip > 0)
      grad_norm = model_.expert_parallel()
                      ? clip_grad_norm_expert_parallel(*comm_, model_.parameters(), options_.grad_clip)
                      : optim::clip_grad_norm(model_.parameters(), options_.grad_clip);
    optimizer_->adamw.step();
    // Auxiliary-loss-free balancing: once per optimizer step, from the loads of all its micro-batches.
    models::ExpertLoads loads = model_.take_expert_loads();
    for (auto& [layer, load] : loads) comm_->allreduce_sum(std::span<int64_t>(load));  // global loads, same update everywhere
    const std::map<int64_t, double> imbalance = model_.update_router_bias(loads);
    const double step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
    const int64_t done = step + 1;
    tokens_seen += options_.grad_accum * batches_.tokens_per_batch();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = elapsed > 0 ? static_cast<double>(tokens_seen) / elapsed : 0;
    nlohmann::json record = {{"step", done}, {"loss", loss}, {"lr", lr}, {"grad_norm", grad_norm},
                             {"tokens_per_s", rate}, {"elapsed_s", elapsed}};
    if (comm_->size() > 1) {
      record["ranks"] = comm_->size();
      record["comm_s"] = step_loss.communication_s;
      record["comm_fraction"] = step_s > 0 ? step_loss.communication_s / step_s : 0.0;
    }
    if (model_.config().mtp_depth > 0) {
      record["mtp_loss"] = step_loss.mtp;
      record["mtp_lambda"] = mtp_lambda_at(step);
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
    result.last_train_loss = loss;
    result.tokens_per_second = rate;
    if (done % options_.eval_every == 0 || done == last) {
      result.last_eval = evaluate(options_.eval_batches);
      record["val_loss"] = result.last_eval.loss;
      record["val_ppl"] = result.last_eval.perplexity;
    }
    if (root) metrics << record.dump() << std::endl;  // flushed: a crash keeps every finished step
    const std::string extra = fmt::format("loss {:.4f}  lr {:.2e}  {} tok/s", loss, lr, human_count(rate)) +
                              (record.contains("val_loss") ? fmt::format("  val {:.4f}", result.last_eval.loss) : "");
    if (root) bar->update(done, extra);
    if (root && !terminal && (done % options_.log_every == 0 || done == last || record.contains("val_loss")))
      fmt::print(stderr, "step {}/{}  {}\n", done, options_.steps, extra);
    if (done % options_.checkpoint_every == 0 || done == last) last_checkpoint = save(done, record).string();
    result.last_step = done;
  }
  if (root) bar->finish();
  return result;
}

}  // namespace kiln::train
