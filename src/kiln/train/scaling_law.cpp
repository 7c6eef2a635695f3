#include "kiln/train/scaling_law.hpp"

#include <cmath>

#include "kiln/base/error.hpp"

namespace kiln::train {

double flops_per_token(int64_t n_layer, int64_t d_model, int64_t seq_len) {
  const double l = static_cast<double>(n_layer), d = static_cast<double>(d_model);
  return 72.0 * l * d * d + 6.0 * l * d * static_cast<double>(seq_len);
}

ScalingPlan plan_for_compute(double compute) {
  KILN_CHECK(std::isfinite(compute) && compute > 0, "plan: compute must be a positive number of FLOPs, got {}",
             compute);
  ScalingPlan plan;
  plan.compute = compute;
  plan.batch_tokens = 0.2920 * std::pow(compute, 0.3271);
  plan.learning_rate = 0.3118 * std::pow(compute, -0.1250);
  plan.flops_per_token = 0.1715 * std::pow(compute, 0.5243);
  plan.tokens = 5.8316 * std::pow(compute, 0.4757);
  return plan;
}

}  // namespace kiln::train
