#include "kiln/train/training_loop.hpp"

#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>

#include "kiln/autograd/engine.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/progress.hpp"
#include "kiln/train/training_state.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The figures an evaluation adds, for the plain-text line: "  val_loss 2.1234  probe_accuracy 0.8123".
std::string evaluation_figures(const nlohmann::json& record) {
  std::string text;
  for (const auto& [key, value] : record.items())
    if ((key.rfind("val_", 0) == 0 || key.rfind("probe_", 0) == 0 || key == "epoch_loss") && value.is_number())
      text += fmt::format("  {} {:.4f}", key, value.get<double>());
  return text;
}

struct Points {
  const LoopOptions& o;
  int64_t last;
  bool evaluation(int64_t done) const {
    if (done == last) return true;
    if (o.eval_every > 0) return done % o.eval_every == 0;
    return o.steps_per_epoch > 0 && done % o.steps_per_epoch == 0;
  }
  bool save(int64_t done) const {
    if (o.save_every > 0) return done % o.save_every == 0 || done == last;
    return evaluation(done);
  }
  bool log(int64_t done) const { return (o.log_every > 0 && done % o.log_every == 0) || evaluation(done); }
};

nlohmann::json identity_of(const LoopOptions& o) {
  if (!o.identity.is_null()) return o.identity;
  return {{"steps", o.steps},
          {"seed", o.seed},
          {"lr", o.schedule.lr},
          {"warmup_steps", o.schedule.warmup},
          {"linear_decay", o.schedule.kind == "linear"},
          {"items_per_step", o.items_per_step}};
}

}  // namespace

StepLoss backward_loss(const Tensor& loss) {
  const double value = loss.item();
  backward(loss);
  return {value, value};
}

LoopResult run_training_loop(const std::map<std::string, Tensor>& parameters,
                             const std::map<std::string, Tensor>& trained, const LoopHooks& hooks,
                             const LoopOptions& o, const fs::path& run_dir, Communicator* comm) {
  KILN_CHECK(static_cast<bool>(hooks.step), "a training loop needs a step");
  KILN_CHECK(o.steps >= 1, "train.steps must be at least 1, got {}", o.steps);
  const bool root = comm == nullptr || comm->is_root();
  const bool files = !run_dir.empty();
  optim::AdamW adamw(trained, o.adamw);
  o.schedule.at(0, o.steps);  // an unknown schedule fails here, before any work
  const nlohmann::json identity = identity_of(o);

  LoopResult result;
  if (o.resume) {
    KILN_CHECK(files || hooks.restore, "--resume needs a run folder");
    const nlohmann::json progress =
        hooks.restore ? hooks.restore(adamw) : restore_training_state(run_dir, identity, parameters, adamw);
    result.first_step = progress.at("step").get<int64_t>();
    result.last_loss = progress.value("loss", 0.0);
    if (root && o.steps_per_epoch > 0)
      fmt::print(stderr, "resumed after epoch {} (step {}/{})\n", result.first_step / o.steps_per_epoch,
                 result.first_step, o.steps);
    else if (root)
      fmt::print(stderr, "resumed at step {}/{}\n", result.first_step, o.steps);
  }
  const int64_t last = o.stop_after > 0 ? std::min(o.stop_after, o.steps) : o.steps;
  const Points points{o, last};
  std::ofstream metrics;
  if (root && files) metrics = open_metrics(run_dir / "metrics.jsonl", o.resume, result.first_step);
  std::optional<ProgressBar> bar;
  if (root) bar.emplace(o.label, o.steps, "step");
  const bool terminal = ProgressBar::stderr_is_terminal();
  std::string last_saved = "none yet";
  double epoch_loss = 0;
  int64_t epoch_steps = 0;
  const auto start = Clock::now();
  result.last_step = result.first_step;
  for (int64_t step = result.first_step; step < last; ++step) {
    const int64_t done = step + 1;
    const double lr = o.schedule.at(step, o.steps);
    adamw.set_lr(lr);
    adamw.zero_grad();
    nlohmann::json record = {{"step", done}, {"lr", lr}};
    if (o.steps_per_epoch > 0) record["epoch"] = step / o.steps_per_epoch + 1;
    const StepLoss loss = hooks.step(step, record);
    if (!std::isfinite(loss.total))
      fail("step {}: the training loss is {}; stopping. The last good checkpoint is {}", done, loss.total, last_saved);
    double norm = 0;
    if (o.grad_clip > 0) norm = hooks.clip ? hooks.clip(o.grad_clip) : optim::clip_grad_norm(trained, o.grad_clip);
    adamw.step();
    if (hooks.after_update) hooks.after_update(step, record);
    const double elapsed = seconds_since(start);
    const double rate = elapsed > 0 ? static_cast<double>((done - result.first_step) * o.items_per_step) / elapsed : 0;
    record["loss"] = loss.loss;
    record["grad_norm"] = norm;
    record[o.unit + "_per_s"] = rate;
    record["elapsed_s"] = elapsed;
    epoch_loss += loss.loss;
    ++epoch_steps;
    const bool evaluating = points.evaluation(done);
    if (evaluating && o.steps_per_epoch > 0) {
      record["epoch_loss"] = epoch_loss / static_cast<double>(epoch_steps);
      epoch_loss = 0;
      epoch_steps = 0;
    }
    if (evaluating && hooks.evaluate) hooks.evaluate(done, record);
    if (points.save(done) && (files || hooks.save)) {
      last_saved = hooks.save ? hooks.save(done, record, adamw) : [&] {
        if (root) save_training_state(run_dir, {{"step", done}, {"loss", loss.loss}}, identity, parameters, adamw);
        return training_state_dir(run_dir).string();
      }();
    }
    if (metrics.is_open()) metrics << record.dump() << std::endl;  // flushed: a crash keeps every finished step
    result.last_step = done;
    result.last_loss = loss.loss;
    result.items_per_second = rate;
    result.last_record = record;
    if (!root) continue;
    const std::string epoch = o.steps_per_epoch > 0 ? fmt::format("epoch {}  ", record["epoch"].get<int64_t>()) : "";
    std::string line = fmt::format("{}loss {:.4f}  lr {:.2e}  {} {}/s", epoch, loss.loss, lr, human_count(rate), o.unit);
    if (record.contains("val_loss")) line += fmt::format("  val {:.4f}", record["val_loss"].get<double>());
    bar->update(done, line);
    if (!terminal && points.log(done))
      fmt::print(stderr, "step {}/{}  {}{}\n", done, o.steps, line, evaluating ? evaluation_figures(record) : "");
  }
  if (bar) bar->finish();
  result.seconds = seconds_since(start);
  return result;
}

}  // namespace kiln::train
