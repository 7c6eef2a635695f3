// Batched (strided) GEMM against a plain f64 loop, f32 and bf16; the
// primitive cache across thread counts; the vectorised bf16 conversion. (The
// bf16 compute path of matmul/linear: tests/autograd/precision_test.cpp.)
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <vector>

#include "kiln/base/threads.hpp"
#include "kiln/kernels/cpu/gemm.hpp"

#include "support/random_values.hpp"

namespace kiln {
namespace {

using cpu::GemmBatch;
using cpu::GemmShape;

std::vector<float> random_values(int64_t n, uint64_t stream) { return testing::random_values(n, 7, stream); }

// C_i = alpha·op(A_i)·op(B_i) + beta·C_i in f64.
void reference(const GemmShape& s, const GemmBatch& g, double alpha, const std::vector<double>& a,
               const std::vector<double>& b, double beta, std::vector<double>& c) {
  for (int64_t t = 0; t < g.count; ++t)
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        const double* at = a.data() + t * g.stride_a;
        const double* bt = b.data() + t * g.stride_b;
        double acc = 0;
        for (int64_t p = 0; p < s.k; ++p)
          acc += (s.trans_a ? at[p * s.lda + i] : at[i * s.lda + p]) * (s.trans_b ? bt[j * s.ldb + p] : bt[p * s.ldb + j]);
        double& out = c[t * g.stride_c + i * s.ldc + j];
        out = alpha * acc + beta * out;
      }
}

TEST(GemmBatched, EveryLayoutStrideAndSharingMatchesAPlainLoop) {
  const int64_t m = 19, n = 23, k = 41, count = 5;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (bool shared_b : {false, true})
        for (bool use_bf16 : {false, true}) {
          if (use_bf16 && !cpu::has_bf16_gemm()) continue;  // no bf16 kernel here: Gemm.Bf16KernelOrAClearError
          GemmShape s{ta, tb, m, n, k, (ta ? m : k) + 3, (tb ? k : n) + 2, n + 1};
          const int64_t a_rows = ta ? k : m, b_rows = tb ? n : k;
          // Batch strides larger than one matrix (padding between entries).
          const GemmBatch g{count, a_rows * s.lda + 7, shared_b ? 0 : b_rows * s.ldb + 5, m * s.ldc + 3};
          const size_t a_size = static_cast<size_t>(count * g.stride_a);
          const size_t b_size = static_cast<size_t>(shared_b ? b_rows * s.ldb : count * g.stride_b);
          const size_t c_size = static_cast<size_t>(count * g.stride_c);
          std::vector<float> a = random_values(a_size, 1), b = random_values(b_size, 2), c = random_values(c_size, 3);
          std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end()), expected(c.begin(), c.end());
          if (use_bf16) {
            std::vector<bf16> a16(a.size()), b16(b.size());
            for (size_t i = 0; i < a.size(); ++i) ad[i] = static_cast<float>(a16[i] = bf16(a[i]));
            for (size_t i = 0; i < b.size(); ++i) bd[i] = static_cast<float>(b16[i] = bf16(b[i]));
            cpu::gemm_batched(s, g, 0.5f, a16.data(), b16.data(), 0.75f, c.data());
          } else {
            cpu::gemm_batched(s, g, 0.5f, a.data(), b.data(), 0.75f, c.data());
          }
          reference(s, g, 0.5, ad, bd, 0.75, expected);
          double worst = 0;
          for (size_t i = 0; i < c.size(); ++i) worst = std::max(worst, std::abs(c[i] - expected[i]));
          // Products of bf16 values are exact in f32; what remains is f32
          // summation over k = 41 of terms of size ~1: well under 1e-4. The
          // padding between batch entries is checked too (must be untouched).
          EXPECT_LT(worst, 1e-4) << "ta " << ta << " tb " << tb << " shared_b " << shared_b << " bf16 " << use_bf16;
        }
}

TEST(GemmBatched, F64LoopsAndEmptyBatchesAreFine) {
  const GemmShape s{false, false, 2, 2, 2, 2, 2, 2};
  std::vector<double> a{1, 2, 3, 4, 5, 6, 7, 8}, b{1, 0, 0, 1, 2, 0, 0, 2}, c(8, 0);
  cpu::gemm_batched(s, GemmBatch{2, 4, 4, 4}, 1.0, a.data(), b.data(), 0.0, c.data());
  EXPECT_EQ(c, (std::vector<double>{1, 2, 3, 4, 10, 12, 14, 16}));
  std::vector<float> f(4, 1.0f);
  cpu::gemm_batched(GemmShape{false, false, 2, 2, 2, 2, 2, 2}, GemmBatch{0, 4, 4, 4}, 1.0f, f.data(), f.data(), 0.0f,
                    f.data());
  EXPECT_EQ(f, std::vector<float>(4, 1.0f));
}

TEST(GemmBatched, SameProductsAfterTheThreadCountChanges) {
  // Primitives are cached per thread count; changing it must not reuse one
  // partitioned for another count, and must not change the results.
  const int64_t count = 6, t = 64, d = 32;
  const GemmShape s{false, true, t, t, d, d, d, t};
  const GemmBatch g{count, t * d, t * d, t * t};
  const std::vector<float> a = random_values(count * t * d, 4), b = random_values(count * t * d, 5);
  std::vector<float> c1(count * t * t), c2(count * t * t), c3(count * t * t);
  {
    NumThreadsGuard threads(2);
    cpu::gemm_batched(s, g, 1.0f, a.data(), b.data(), 0.0f, c2.data());
  }
  {
    NumThreadsGuard threads(1);
    cpu::gemm_batched(s, g, 1.0f, a.data(), b.data(), 0.0f, c1.data());
  }
  {
    NumThreadsGuard threads(2);
    cpu::gemm_batched(s, g, 1.0f, a.data(), b.data(), 0.0f, c3.data());
  }
  EXPECT_EQ(c2, c3) << "the same cached primitive gives the same bits";
  for (size_t i = 0; i < c1.size(); ++i) ASSERT_NEAR(c1[i], c2[i], 1e-5 * (1 + std::abs(c2[i])));
}

TEST(ConvertToBf16, BitForBitTheScalarRounding) {
  // Every high half with low halves that hit ties, just-below/above ties and
  // NaN payloads, plus a long run through the parallel branch.
  std::vector<float> values;
  for (uint32_t hi = 0; hi < 0x10000u; ++hi)
    for (uint32_t lo : {0x0000u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu, 0x0040u})
      values.push_back(std::bit_cast<float>((hi << 16) | lo));
  std::vector<bf16> fast(values.size());
  cpu::convert_to_bf16(values.data(), fast.data(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) {
    const bf16 expected(values[i]);
    ASSERT_EQ(fast[i].bits, expected.bits) << "input bits " << std::bit_cast<uint32_t>(values[i]);
  }
}






}  // namespace
}  // namespace kiln
