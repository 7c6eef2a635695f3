#include "kiln/train/step_loop.hpp"

#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <fstream>

#include "kiln/autograd/engine.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/progress.hpp"
#include "kiln/optim/optimizer.hpp"
#include "kiln/optim/schedule.hpp"
#include "kiln/train/training_state.hpp"

namespace kiln::train {

StepLoopResult run_step_loop(const std::map<std::string, Tensor>& parameters, const StepLoss& loss,
                             const StepLoopOptions& o, const std::filesystem::path& run_dir,
                             const StepEvaluation& evaluate) {
  KILN_CHECK(o.steps >= 1, "train.steps must be at least 1, got {}", o.steps);
  const std::map<std::string, Tensor> trained = optim::gradient_trained(parameters);
  optim::AdamW adamw(
      trained, {.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .weight_decay = o.weight_decay, .decay_rule = {}});
  const nlohmann::json schedule = {{"steps", o.steps},
                                   {"seed", o.seed},
                                   {"lr", o.lr},
                                   {"warmup_steps", o.warmup_steps},
                                   {"linear_decay", o.linear_decay},
                                   {"items_per_step", o.items_per_step}};
  StepLoopResult result;
  int64_t first_step = 0;
  if (o.resume) {
    const nlohmann::json progress = restore_training_state(run_dir, schedule, parameters, adamw);
    first_step = progress.at("step").get<int64_t>();
    result.last_loss = progress.value("loss", 0.0);
    fmt::print(stderr, "resumed at step {}/{}\n", first_step, o.steps);
  }
  std::filesystem::create_directories(run_dir);
  const std::filesystem::path metrics_path = run_dir / "metrics.jsonl";
  std::ofstream metrics = open_metrics(metrics_path, o.resume, first_step);
  ProgressBar bar("train", o.steps, "step");
  const auto start = std::chrono::steady_clock::now();
  for (int64_t step = first_step; step < o.steps; ++step) {
    const double lr = o.linear_decay ? optim::warmup_linear(step, o.warmup_steps, o.steps, o.lr, o.min_lr)
                                     : optim::warmup_cosine(step, o.warmup_steps, o.steps, o.lr, o.min_lr);
    adamw.set_lr(lr);
    adamw.zero_grad();
    nlohmann::json record = {{"step", step + 1}, {"lr", lr}};
    const Tensor value = loss(step, record);
    const double v = value.item();
    KILN_CHECK(std::isfinite(v), "step {}: the training loss is {}; stopping", step + 1, v);
    backward(value);
    const double norm = o.grad_clip > 0 ? optim::clip_grad_norm(trained, o.grad_clip) : 0.0;
    adamw.step();
    result.last_loss = v;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = static_cast<double>((step + 1 - first_step) * o.items_per_step) / elapsed;
    record["loss"] = v;
    record["grad_norm"] = norm;
    record[o.unit + "_per_s"] = rate;
    record["elapsed_s"] = elapsed;
    const bool milestone = (o.eval_every > 0 && (step + 1) % o.eval_every == 0) || step + 1 == o.steps;
    const bool evaluating = evaluate && milestone;
    if (evaluating) evaluate(step + 1, record);
    if (milestone) save_training_state(run_dir, {{"step", step + 1}, {"loss", v}}, schedule, parameters, adamw);
    metrics << record.dump() << "\n";
    metrics.flush();
    bar.update(step + 1, fmt::format("loss {:.4f}  {} {}/s", v, human_count(rate), o.unit));
    if (evaluating && !ProgressBar::stderr_is_terminal()) {
      std::string extra;
      for (const auto& [key, value_json] : record.items())
        if (key.rfind("val_", 0) == 0 && value_json.is_number())
          extra += fmt::format("  {} {:.4f}", key, value_json.get<double>());
      fmt::print(stderr, "step {}/{}  loss {:.4f}  {:.0f} {}/s{}\n", step + 1, o.steps, v, rate, o.unit, extra);
    }
  }
  bar.finish();
  result.steps = o.steps;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.items_per_second =
      o.steps > first_step ? static_cast<double>((o.steps - first_step) * o.items_per_step) / result.seconds : 0.0;
  return result;
}

}  // namespace kiln::train
