// FP8 E4M3 / E5M2 (Micikevicius et al., arXiv 2209.05433) conversion against
// an exact reference table (derived with a rational-arithmetic encoder) and
// exhaustive properties.
#include "kiln/tensor/fp8.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace kiln {
namespace {

struct Row {
  double x;
  int e4m3, e5m2;  // codes; -1 = not listed
};

TEST(Fp8, HandDerivedReferenceTable) {
  const Row rows[] = {
      {1.0, 0x38, 0x3C},          {-1.0, 0xB8, 0xBC},         {0.1, 0x1D, 0x2E},          {1.0 / 3, 0x2B, 0x35},
      {0.3, 0x2A, 0x35},          {2.5, 0x42, 0x41},          {3.25, 0x45, 0x42},         {3.3, 0x45, 0x43},
      {17, 0x58, 0x4C},           {100, 0x6C, 0x56},          {300, 0x79, 0x5D},          {448, 0x7E, 0x5F},
      {449, 0x7E, 0x5F},          {464, 0x7E, 0x5F},          {464.01, 0x7E, 0x5F},       {470, 0x7E, 0x5F},
      {479, 0x7E, 0x5F},          {480, 0x7E, 0x60},          {500, 0x7E, 0x60},          {0.7265625, 0x34, 0x3A},
      {0.015625, 0x08, 0x24},     {std::ldexp(1.0, -9), 0x01, 0x18}, {std::ldexp(1.0, -10), 0x00, 0x14},
      {3 * std::ldexp(1.0, -11), 0x01, 0x16}, {0.001, 0x01, 0x14}, {0.0146, 0x07, 0x23},
      {57344, -1, 0x7B},          {61439, -1, 0x7B},          {61440, -1, 0x7B},          {65536, -1, 0x7B},
      {std::ldexp(1.0, -17), -1, 0x00}, {3 * std::ldexp(1.0, -18), -1, 0x01}, {1e-5, -1, 0x01},
  };
  for (const Row& r : rows) {
    const auto x = static_cast<float>(r.x);
    if (r.e4m3 >= 0) {
      EXPECT_EQ(fp8_encode(x, Fp8Format::e4m3), r.e4m3) << "E4M3 of " << r.x;
    }
    if (r.e5m2 >= 0) {
      EXPECT_EQ(fp8_encode(x, Fp8Format::e5m2), r.e5m2) << "E5M2 of " << r.x;
    }
  }
  EXPECT_EQ(fp8_decode(0x1D, Fp8Format::e4m3), 0.1015625f);
  EXPECT_EQ(fp8_decode(0x2E, Fp8Format::e5m2), 0.09375f);
  EXPECT_EQ(fp8_decode(0x07, Fp8Format::e4m3), 0.013671875f);
  EXPECT_EQ(fp8_decode(0x01, Fp8Format::e5m2), static_cast<float>(std::ldexp(1.0, -16)));
}

TEST(Fp8, NonSaturatingMatchesPyTorchCpu) {
  for (float x : {464.01f, 470.0f, 479.0f, 480.0f, 500.0f, INFINITY})
    EXPECT_EQ(fp8_encode(x, Fp8Format::e4m3, Fp8Overflow::non_saturating), 0x7F) << x;
  EXPECT_EQ(fp8_encode(464.0f, Fp8Format::e4m3, Fp8Overflow::non_saturating), 0x7E);
  EXPECT_EQ(fp8_encode(-500.0f, Fp8Format::e4m3, Fp8Overflow::non_saturating), 0xFF);
  for (float x : {61440.0f, 65536.0f, INFINITY})
    EXPECT_EQ(fp8_encode(x, Fp8Format::e5m2, Fp8Overflow::non_saturating), 0x7C) << x;
  EXPECT_EQ(fp8_encode(-INFINITY, Fp8Format::e5m2, Fp8Overflow::non_saturating), 0xFC);
  EXPECT_EQ(fp8_encode(NAN, Fp8Format::e4m3), 0x7F);
  EXPECT_EQ(fp8_encode(-NAN, Fp8Format::e5m2) & 0x7F, 0x7F);
}

TEST(Fp8, EveryCodeRoundTripsAndCountsMatch) {
  for (Fp8Format f : {Fp8Format::e4m3, Fp8Format::e5m2}) {
    int finite_positive = 0;
    for (int code = 0; code < 256; ++code) {
      const float v = fp8_decode(static_cast<uint8_t>(code), f);
      if (std::isnan(v)) continue;
      if (std::isinf(v)) {
        EXPECT_EQ(f, Fp8Format::e5m2);
        continue;
      }
      if (code < 0x80) ++finite_positive;
      EXPECT_EQ(fp8_encode(v, f), code) << "code " << code;
      EXPECT_LE(std::fabs(v), fp8_max(f));
    }
    EXPECT_EQ(finite_positive, f == Fp8Format::e4m3 ? 127 : 124);
  }
  EXPECT_EQ(fp8_max(Fp8Format::e4m3), 448.0f);
  EXPECT_EQ(fp8_max(Fp8Format::e5m2), 57344.0f);
}

TEST(Fp8, RoundsToNearestEvenAtEveryMidpoint) {
  for (Fp8Format f : {Fp8Format::e4m3, Fp8Format::e5m2}) {
    for (int code = 0; code < 0x7E; ++code) {
      const float lo = fp8_decode(static_cast<uint8_t>(code), f), hi = fp8_decode(static_cast<uint8_t>(code + 1), f);
      if (!std::isfinite(lo) || !std::isfinite(hi)) continue;
      const float mid = (lo + hi) / 2;  // exact: both are short binary fractions
      const int even = (code % 2 == 0) ? code : code + 1;
      EXPECT_EQ(fp8_encode(mid, f), even) << "between codes " << code << " and " << code + 1;
      EXPECT_EQ(fp8_encode(std::nextafter(mid, 0.0f), f), code);
      EXPECT_EQ(fp8_encode(std::nextafter(mid, 1e9f), f), code + 1);
    }
  }
}

TEST(Fp8, FastE4M3EncoderEqualsTheReferenceEncoder) {
  // Every f32 bit pattern with a 12-bit stride (about a million values, all
  // exponents and signs), plus every midpoint and its neighbours.
  for (uint64_t bits = 0; bits < (uint64_t{1} << 32); bits += 4093) {
    const float x = std::bit_cast<float>(static_cast<uint32_t>(bits));
    const uint8_t fast = fp8_encode_e4m3(x), slow = fp8_encode(x, Fp8Format::e4m3);
    if (std::isnan(x)) {
      EXPECT_EQ(fast & 0x7F, 0x7F);
      continue;
    }
    ASSERT_EQ(fast, slow) << "x = " << x;
  }
  for (int code = 0; code < 0x7E; ++code) {
    const float lo = fp8_decode(static_cast<uint8_t>(code), Fp8Format::e4m3);
    const float mid = (lo + fp8_decode(static_cast<uint8_t>(code + 1), Fp8Format::e4m3)) / 2;
    for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f), -mid, lo})
      EXPECT_EQ(fp8_encode_e4m3(x), fp8_encode(x, Fp8Format::e4m3)) << x;
  }
}

}  // namespace
}  // namespace kiln
