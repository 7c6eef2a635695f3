// The bf16 GEMM choice: rounding to bf16 precision in f32 storage is bit for
// bit the bf16 conversion, the f32 GEMM on rounded operands agrees with the
// bf16 GEMM, and the measured choice follows its own measurement.
#include "kiln/kernels/cpu/bf16_gemm_choice.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "kiln/base/philox.hpp"
#include "kiln/kernels/cpu/gemm.hpp"

namespace kiln::cpu {
namespace {

TEST(Bf16GemmChoice, RoundingInF32IsTheBf16ConversionBitForBit) {
  std::vector<float> values = {0.0f, -0.0f, 1.0f, -1.5f, 3.14159265f, 1e-40f, -1e-42f, 65504.0f, 3.4e38f,
                               std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::quiet_NaN(),
                               std::bit_cast<float>(0x7f800001u),  // signalling NaN
                               std::bit_cast<float>(0x3f808000u),  // a tie: rounds to even
                               std::bit_cast<float>(0x3f818000u), std::bit_cast<float>(0x7f7fffffu)};
  for (uint64_t i = 0; i < 100000; ++i) values.push_back(philox_normal({5, 1}, i) * std::ldexp(1.0f, int(i % 80) - 40));
  std::vector<float> rounded(values.size());
  round_to_bf16_precision(values.data(), rounded.data(), static_cast<int64_t>(values.size()));
  std::vector<bf16> converted(values.size());
  convert_to_bf16(values.data(), converted.data(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) {
    const uint32_t expected = static_cast<uint32_t>(bf16(values[i]).bits) << 16;
    ASSERT_EQ(std::bit_cast<uint32_t>(rounded[i]), expected) << "value " << values[i];
    ASSERT_EQ(converted[i].bits, bf16(values[i]).bits) << "value " << values[i];
  }
  // In place, as the matmul path may use it.
  round_to_bf16_precision(values.data(), values.data(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(values[i]), std::bit_cast<uint32_t>(rounded[i]));
}

TEST(Bf16GemmChoice, F32GemmOnRoundedOperandsAgreesWithTheBf16Gemm) {
  if (!has_bf16_gemm()) GTEST_SKIP() << "oneDNN has no bf16 GEMM for this CPU";
  const int64_t m = 67, n = 45, k = 300;
  std::vector<float> a(m * k), b(n * k);
  for (size_t i = 0; i < a.size(); ++i) a[i] = philox_normal({6, 1}, i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = philox_normal({6, 2}, i);
  std::vector<bf16> a16(a.size()), b16(b.size());
  convert_to_bf16(a.data(), a16.data(), static_cast<int64_t>(a.size()));
  convert_to_bf16(b.data(), b16.data(), static_cast<int64_t>(b.size()));
  round_to_bf16_precision(a.data(), a.data(), static_cast<int64_t>(a.size()));
  round_to_bf16_precision(b.data(), b.data(), static_cast<int64_t>(b.size()));
  const GemmShape s{false, true, m, n, k, k, k, n};
  std::vector<float> via_f32(m * n), via_bf16(m * n);
  gemm(s, 1.0f, a.data(), b.data(), 0.0f, via_f32.data());
  gemm(s, 1.0f, a16.data(), b16.data(), 0.0f, via_bf16.data());
  for (int64_t i = 0; i < m * n; ++i) {
    // Same exact products; only the order of the f32 additions may differ.
    double magnitude = 0;
    for (int64_t p = 0; p < k; ++p) magnitude += std::abs(double(a[(i / n) * k + p]) * double(b[(i % n) * k + p]));
    ASSERT_NEAR(via_f32[i], via_bf16[i], 4 * k * std::numeric_limits<float>::epsilon() * magnitude) << "element " << i;
  }
}

TEST(Bf16GemmChoice, TheChoiceFollowsItsMeasurementAndSaysIt) {
  const Bf16GemmChoice& choice = bf16_gemm_choice();
  EXPECT_FALSE(choice.reason.empty());
  EXPECT_EQ(&choice, &bf16_gemm_choice());  // measured once
  if (!has_bf16_gemm() && std::getenv("KILN_BF16_GEMM") == nullptr) {
    EXPECT_FALSE(choice.native);
  }
  if (choice.f32_gflops > 0) {
    EXPECT_EQ(choice.native, choice.bf16_gflops > choice.f32_gflops) << choice.reason;
  }
}

}  // namespace
}  // namespace kiln::cpu
