// The few-row product of decoding (cpu::gemv) against a plain f64 loop and
// against oneDNN's sgemm, the GEMM it stands in for: every row count it
// takes, sizes that leave tails in both the vector width (k) and the row
// blocks (n), padded leading dimensions, alpha and beta.
#include "kiln/kernels/cpu/gemv.hpp"

#include <dnnl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/base/threads.hpp"
#include "kiln/kernels/cpu/gemm.hpp"

#include "support/random_values.hpp"

namespace kiln::cpu {
namespace {

std::vector<float> random_values(int64_t n, uint64_t stream) { return testing::random_values(n, 7, stream); }

struct Operands {
  GemvShape shape;
  std::vector<float> x, w, y;
};

Operands operands(int64_t m, int64_t n, int64_t k) {
  const GemvShape s{m, n, k, k + 3, k + 1, n + 2};
  return {s, random_values(m * s.ldx, 1), random_values(n * s.ldw, 2), random_values(m * s.ldy, 3)};
}

TEST(Gemv, MatchesAPlainLoopAndOneDnnWithTails) {
  for (int64_t m = 1; m <= kGemvMaxRows; ++m)
    for (int64_t n : {1, 3, 8, 9, 31})
      for (int64_t k : {1, 7, 8, 13, 64, 259})
        for (float beta : {0.0f, 0.5f}) {
          Operands o = operands(m, n, k);
          const GemvShape& s = o.shape;
          std::vector<float> ours = o.y, onednn = o.y;
          gemv(s, 1.5f, o.x.data(), o.w.data(), beta, ours.data());
          ASSERT_EQ(dnnl_sgemm('N', 'T', m, n, k, 1.5f, o.x.data(), s.ldx, o.w.data(), s.ldw, beta, onednn.data(),
                               s.ldy),
                    dnnl_success);
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < n; ++j) {
              double dot = 0, magnitude = 0;
              for (int64_t p = 0; p < k; ++p) {
                dot += double(o.x[i * s.ldx + p]) * o.w[j * s.ldw + p];
                magnitude += std::abs(double(o.x[i * s.ldx + p]) * o.w[j * s.ldw + p]);
              }
              const double expected = 1.5 * dot + beta * double(o.y[i * s.ldy + j]);
              // f32 summation of k products: error below k·ε·Σ|x·w| (plus the output's rounding).
              const double bound = 1.5 * magnitude * double(k) * 1.2e-7 + 1e-6 * std::abs(expected) + 1e-6;
              const size_t at = static_cast<size_t>(i * s.ldy + j);
              ASSERT_NEAR(ours[at], expected, bound) << "m " << m << " n " << n << " k " << k << " beta " << beta;
              ASSERT_NEAR(ours[at], onednn[at], 2 * bound) << "m " << m << " n " << n << " k " << k;
            }
            // Padding between rows of y is never written.
            for (int64_t j = n; j < s.ldy && i + 1 < m; ++j)
              ASSERT_EQ(ours[static_cast<size_t>(i * s.ldy + j)], o.y[static_cast<size_t>(i * s.ldy + j)]);
          }
        }
}

TEST(Gemv, BetaZeroIgnoresWhatYHeld) {
  Operands o = operands(2, 9, 13);
  std::vector<float> clean(o.y.size(), 0.0f), dirty(o.y.size(), std::nanf(""));
  gemv(o.shape, 1.0f, o.x.data(), o.w.data(), 0.0f, clean.data());
  gemv(o.shape, 1.0f, o.x.data(), o.w.data(), 0.0f, dirty.data());
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 9; ++j) EXPECT_EQ(dirty[i * o.shape.ldy + j], clean[i * o.shape.ldy + j]);
}

TEST(Gemv, ResultDoesNotDependOnTheThreadCount) {
  // Large enough (n·k above the parallel threshold) to run on the OpenMP pool.
  Operands o = operands(2, 517, 771);
  std::vector<float> one = o.y, two = o.y;
  {
    NumThreadsGuard threads(1);
    gemv(o.shape, 1.0f, o.x.data(), o.w.data(), 0.0f, one.data());
  }
  {
    NumThreadsGuard threads(2);
    gemv(o.shape, 1.0f, o.x.data(), o.w.data(), 0.0f, two.data());
  }
  EXPECT_EQ(one, two);
}

TEST(Gemv, GemmSendsFewRowWeightProductsHere) {
  Operands o = operands(3, 40, 100);
  const GemvShape& s = o.shape;
  std::vector<float> direct = o.y, routed = o.y;
  gemv(s, 1.0f, o.x.data(), o.w.data(), 0.0f, direct.data());
  gemm({false, true, s.m, s.n, s.k, s.ldx, s.ldw, s.ldy}, 1.0f, o.x.data(), o.w.data(), 0.0f, routed.data());
  EXPECT_EQ(direct, routed);
}

TEST(Gemv, RowCountOutsideItsRangeIsAnError) {
  Operands o = operands(1, 4, 4);
  EXPECT_THROW(gemv({0, 4, 4, 4, 4, 4}, 1.0f, o.x.data(), o.w.data(), 0.0f, o.y.data()), Error);
  EXPECT_THROW(gemv({kGemvMaxRows + 1, 4, 4, 4, 4, 4}, 1.0f, o.x.data(), o.w.data(), 0.0f, o.y.data()), Error);
}

}  // namespace
}  // namespace kiln::cpu
