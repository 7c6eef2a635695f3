// The bf16 GEMM choice follows its own measurement and says what it chose;
// where it keeps the bf16 GEMM, that GEMM agrees with the f32 GEMM on the
// same (bf16-representable) operands.
#include "kiln/kernels/cpu/bf16_gemm_choice.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "kiln/base/philox.hpp"
#include "kiln/kernels/cpu/gemm.hpp"

namespace kiln::cpu {
namespace {

TEST(Bf16GemmChoice, TheChoiceFollowsItsMeasurementAndSaysIt) {
  const Bf16GemmChoice& choice = bf16_gemm_choice();
  EXPECT_FALSE(choice.reason.empty());
  EXPECT_EQ(&choice, &bf16_gemm_choice());  // measured once
  if (std::getenv("KILN_BF16_GEMM") != nullptr) return;
  EXPECT_GT(choice.f32_gflops, 0.0) << choice.reason;
  EXPECT_EQ(choice.native, choice.bf16_gflops > choice.f32_gflops) << choice.reason;
  if (!has_bf16_gemm()) {
    EXPECT_FALSE(choice.native);
  }
}

TEST(Bf16GemmChoice, Bf16GemmAgreesWithF32GemmOnBf16Operands) {
  if (!has_bf16_gemm()) GTEST_SKIP() << "oneDNN has no bf16 GEMM for this CPU";
  const int64_t m = 67, n = 45, k = 300;
  std::vector<bf16> a16(m * k), b16(n * k);
  std::vector<float> a(m * k), b(n * k);  // the same values, exactly
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(a16[i] = bf16(philox_normal({6, 1}, i)));
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(b16[i] = bf16(philox_normal({6, 2}, i)));
  const GemmShape s{false, true, m, n, k, k, k, n};
  std::vector<float> via_f32(m * n), via_bf16(m * n);
  gemm(s, 1.0f, a.data(), b.data(), 0.0f, via_f32.data());
  gemm(s, 1.0f, a16.data(), b16.data(), 0.0f, via_bf16.data());
  for (int64_t i = 0; i < m * n; ++i) {
    // Products of bf16 values are exact in f32; only the order of the f32 additions may differ.
    double magnitude = 0;
    for (int64_t p = 0; p < k; ++p) magnitude += std::abs(double(a[(i / n) * k + p]) * double(b[(i % n) * k + p]));
    ASSERT_NEAR(via_f32[i], via_bf16[i], 2 * k * std::numeric_limits<float>::epsilon() * magnitude) << "element " << i;
  }
}

}  // namespace
}  // namespace kiln::cpu
