#include "kiln/optim/schedule.hpp"

#include <cmath>
#include <numbers>

#include "kiln/base/error.hpp"

namespace kiln::optim {

namespace {
double warmup_factor(int64_t step, int64_t warmup) {
  return warmup > 0 && step < warmup ? static_cast<double>(step + 1) / static_cast<double>(warmup) : 1.0;
}
}  // namespace

double warmup_cosine(int64_t step, int64_t warmup, int64_t total, double peak, double min_lr) {
  if (step < warmup) return peak * warmup_factor(step, warmup);
  if (step >= total) return min_lr;
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(total - warmup, 1));
  return min_lr + 0.5 * (peak - min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

double warmup_linear(int64_t step, int64_t warmup, int64_t total, double peak, double min_lr) {
  if (step < warmup) return peak * warmup_factor(step, warmup);
  if (step >= total) return min_lr;
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(total - warmup, 1));
  return peak + (min_lr - peak) * progress;
}

double deepseek_multistep(int64_t step, int64_t warmup, int64_t total, double peak,
                          const std::vector<double>& boundaries, const std::vector<double>& factors) {
  KILN_CHECK(boundaries.size() == factors.size(), "multistep schedule: {} boundaries but {} factors",
             boundaries.size(), factors.size());
  if (step < warmup) return peak * warmup_factor(step, warmup);
  const double progress = static_cast<double>(step) / static_cast<double>(std::max<int64_t>(total, 1));
  double lr = peak;
  for (size_t i = 0; i < boundaries.size(); ++i)
    if (progress >= boundaries[i]) lr = peak * factors[i];
  return lr;
}

double LrSchedule::at(int64_t step, int64_t total) const {
  if (kind == "cosine") return warmup_cosine(step, warmup, total, lr, min_lr);
  if (kind == "linear") return warmup_linear(step, warmup, total, lr, min_lr);
  if (kind == "multistep") return deepseek_multistep(step, warmup, total, lr);
  if (kind == "constant") return step < warmup ? lr * static_cast<double>(step + 1) / static_cast<double>(warmup) : lr;
  fail("train.schedule must be cosine, linear, multistep or constant, got '{}'", kind);
}

}  // namespace kiln::optim
