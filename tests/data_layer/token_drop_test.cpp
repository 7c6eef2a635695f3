// Token dropping (SPEC-VLM §1.4): schedule parsing, n_keep = max(1,
// ⌊n(1 − ρ)⌋), ρ = 0 keeping every token in order, kept tokens ascending and
// a pure function of (seed, step, image), each token equally likely to stay,
// and the rate distributions (uniform, beta, by_size) against their formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "kiln/base/error.hpp"
#include "kiln/data/token_drop.hpp"
#include "support/error_text.hpp"

namespace kiln::data {
namespace {

using kiln::testing::error_of;

using Kind = TokenDropSchedule::Kind;

TEST(TokenDrop, ParsesEverySchedule) {
  EXPECT_EQ(parse_token_drop("none").kind, Kind::none);
  const TokenDropSchedule c = parse_token_drop("const:0.25");
  EXPECT_EQ(c.kind, Kind::constant);
  EXPECT_EQ(c.rate, 0.25);
  const TokenDropSchedule u = parse_token_drop("uniform:0.5");
  EXPECT_EQ(u.kind, Kind::uniform);
  EXPECT_EQ(u.max_rate, 0.5);
  const TokenDropSchedule b = parse_token_drop("beta:2,5");
  EXPECT_EQ(b.kind, Kind::beta);
  EXPECT_EQ(b.alpha, 2);
  EXPECT_EQ(b.beta, 5);
  const TokenDropSchedule s = parse_token_drop("by_size:0.1,0.4,0.6", 140);
  EXPECT_EQ(s.kind, Kind::by_size);
  EXPECT_EQ(s.rate, 0.1);
  EXPECT_EQ(s.slope, 0.4);
  EXPECT_EQ(s.max_rate, 0.6);
  EXPECT_EQ(s.reference_tokens, 140);
}

TEST(TokenDrop, ParseErrors) {
  const std::string expected =
      "expected none, const:ρ, uniform:ρmax, beta:a,b or by_size:ρ0,κ,ρmax (rates in [0, 1], a and b > 0)";
  for (const std::string bad : {"", "half", "const", "const:", "const:1.5", "const:-0.1", "const:0.2,0.3", "uniform:x",
                                "beta:2", "beta:0,1", "beta:2,5,", "by_size:0.1,0.2", "const:nan", "none:0"})
    EXPECT_EQ(error_of([&] { parse_token_drop(bad, 100); }), "vision.token_drop = \"" + bad + "\": " + expected) << bad;
  EXPECT_EQ(error_of([] { parse_token_drop("by_size:0.1,0.2,0.5"); }),
            "vision.token_drop = \"by_size:0.1,0.2,0.5\": by_size needs a reference token count ≥ 1, got 0");
}

TEST(TokenDrop, KeptCountFormula) {
  EXPECT_EQ(kept_token_count(100, 0.0), 100);
  EXPECT_EQ(kept_token_count(100, 0.25), 75);
  EXPECT_EQ(kept_token_count(10, 0.55), 4);  // ⌊4.5⌋
  EXPECT_EQ(kept_token_count(3, 0.9), 1);    // max(1, 0)
  EXPECT_EQ(kept_token_count(64, 1.0), 1);
  EXPECT_EQ(error_of([] { kept_token_count(5, 1.5); }), "token drop: rate 1.5 outside [0, 1]");
  EXPECT_EQ(error_of([] { kept_token_count(0, 0.5); }), "token drop: an image with 0 tokens");
}

TEST(TokenDrop, RateZeroKeepsEveryTokenInOrder) {
  const TokenDropSchedule none = parse_token_drop("none");
  for (int64_t n : {1, 2, 17, 256}) {
    const DropSite site{3, 11, 2};
    const double rate = drop_rate(none, n, site);
    EXPECT_EQ(rate, 0.0);
    std::vector<int32_t> all(static_cast<size_t>(n));
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(kept_tokens(n, rate, site), all);
  }
}

TEST(TokenDrop, KeptTokensAreAscendingDistinctAndCounted) {
  for (int64_t n : {1, 5, 16, 100, 256})
    for (double rate : {0.1, 0.3, 0.5, 0.75, 0.99, 1.0})
      for (int64_t image = 0; image < 4; ++image) {
        const DropSite site{42, 7, image};
        const std::vector<int32_t> kept = kept_tokens(n, rate, site);
        const auto formula = std::max<int64_t>(1, static_cast<int64_t>(std::floor(static_cast<double>(n) * (1 - rate))));
        EXPECT_EQ(static_cast<int64_t>(kept.size()), formula);
        EXPECT_TRUE(std::adjacent_find(kept.begin(), kept.end(), std::greater_equal<int32_t>()) == kept.end())
            << "not strictly ascending";
        EXPECT_GE(kept.front(), 0);
        EXPECT_LT(kept.back(), n);
        EXPECT_EQ(kept_tokens(n, rate, site), kept);  // a pure function of (seed, step, image)
      }
}

TEST(TokenDrop, SelectionDependsOnSeedStepAndImage) {
  const std::vector<int32_t> base = kept_tokens(64, 0.5, {1, 2, 3});
  EXPECT_NE(kept_tokens(64, 0.5, {9, 2, 3}), base);
  EXPECT_NE(kept_tokens(64, 0.5, {1, 5, 3}), base);
  EXPECT_NE(kept_tokens(64, 0.5, {1, 2, 4}), base);
}

TEST(TokenDrop, EveryTokenIsEquallyLikelyToStay) {
  // 20 tokens at ρ = 0.5 over 4000 steps: each is kept about 2000 times
  // (binomial standard deviation ≈ 32), whatever its position.
  std::vector<int> kept_count(20, 0);
  for (int64_t step = 0; step < 4000; ++step)
    for (int32_t t : kept_tokens(20, 0.5, {5, step, 0})) ++kept_count[static_cast<size_t>(t)];
  for (size_t t = 0; t < kept_count.size(); ++t) EXPECT_NEAR(kept_count[t], 2000, 160) << "token " << t;
}

// Mean and variance of the rates of 20,000 images of one step.
std::pair<double, double> rate_moments(const TokenDropSchedule& schedule) {
  double sum = 0, square = 0;
  constexpr int kImages = 20000;
  for (int64_t image = 0; image < kImages; ++image) {
    const double r = drop_rate(schedule, 100, {17, 3, image});
    EXPECT_TRUE(r >= 0 && r <= 1) << r;
    sum += r;
    square += r * r;
  }
  const double mean = sum / kImages;
  return {mean, square / kImages - mean * mean};
}

TEST(TokenDrop, UniformRates) {
  const auto [mean, variance] = rate_moments(parse_token_drop("uniform:0.6"));
  EXPECT_NEAR(mean, 0.3, 0.005);              // ρmax/2; standard error 0.0012
  EXPECT_NEAR(variance, 0.36 / 12, 0.001);    // ρmax²/12
}

TEST(TokenDrop, BetaRatesMatchTheirMoments) {
  // Beta(a, b): mean a/(a+b), variance ab/((a+b)²(a+b+1)); both shapes ≥ 1
  // and < 1 (the boosted Gamma branch).
  for (const auto& [a, b] : {std::pair{2.0, 5.0}, std::pair{0.5, 0.5}, std::pair{1.0, 3.0}, std::pair{0.3, 2.0}}) {
    const auto [mean, variance] = rate_moments(parse_token_drop(fmt::format("beta:{},{}", a, b)));
    EXPECT_NEAR(mean, a / (a + b), 0.01) << a << "," << b;
    EXPECT_NEAR(variance, a * b / ((a + b) * (a + b) * (a + b + 1)), 0.004) << a << "," << b;
  }
}

TEST(TokenDrop, BySizeFollowsItsFormula) {
  const TokenDropSchedule s = parse_token_drop("by_size:0.2,0.5,0.6", 100);
  const DropSite site{};
  EXPECT_DOUBLE_EQ(drop_rate(s, 100, site), 0.2);            // n = n_ref
  EXPECT_DOUBLE_EQ(drop_rate(s, 150, site), 0.2 + 0.5 * 0.5);
  EXPECT_DOUBLE_EQ(drop_rate(s, 300, site), 0.6);            // clipped at ρmax
  EXPECT_DOUBLE_EQ(drop_rate(s, 20, site), 0.0);             // clipped at 0
  EXPECT_DOUBLE_EQ(drop_rate(parse_token_drop("const:0.3"), 77, site), 0.3);
}

}  // namespace
}  // namespace kiln::data
