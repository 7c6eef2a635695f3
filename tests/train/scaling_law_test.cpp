// Values computed from the DeepSeek LLM scaling laws (arXiv 2401.02954, §3); the 7B
// and 67B rows reproduce the published batch sizes and learning rates.
#include "kiln/train/scaling_law.hpp"

#include <gtest/gtest.h>

#include "kiln/base/error.hpp"

namespace kiln::train {
namespace {

TEST(ScalingLaw, ReproducesDeepSeekSettings) {
  const double m7 = flops_per_token(30, 4096, 4096);
  EXPECT_NEAR(m7 / 3.9259e10, 1.0, 1e-4);
  const ScalingPlan p7 = plan_for_compute(m7 * 2e12);
  EXPECT_NEAR(p7.batch_tokens / 9.00e6, 1.0, 5e-3);
  EXPECT_NEAR(p7.learning_rate / 4.286e-4, 1.0, 1e-3);
  const ScalingPlan p67 = plan_for_compute(flops_per_token(95, 8192, 4096) * 2e12);
  EXPECT_NEAR(p67.batch_tokens / 2.04e7, 1.0, 5e-3);
  EXPECT_NEAR(p67.learning_rate / 3.136e-4, 1.0, 1e-3);
}

TEST(ScalingLaw, TableOfComputeBudgets) {
  const double budgets[] = {1e17, 1e18, 1e19, 1e20, 1e21};
  const double batch[] = {1.062e5, 2.255e5, 4.789e5, 1.017e6, 2.160e6};
  const double lr[] = {2.338e-3, 1.753e-3, 1.315e-3, 9.860e-4, 7.394e-4};
  for (int i = 0; i < 5; ++i) {
    const ScalingPlan p = plan_for_compute(budgets[i]);
    EXPECT_NEAR(p.batch_tokens / batch[i], 1.0, 1e-3) << budgets[i];
    EXPECT_NEAR(p.learning_rate / lr[i], 1.0, 1e-3) << budgets[i];
    EXPECT_NEAR(p.flops_per_token * p.tokens / budgets[i], 1.0, 2e-3);
  }
  EXPECT_THROW(plan_for_compute(-1), Error);
}

}  // namespace
}  // namespace kiln::train
