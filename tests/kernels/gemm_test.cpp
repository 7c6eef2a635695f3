// GEMM: every transpose/leading-dimension combination against a plain f64
// loop, for f32 and for bf16 operands with f32 accumulation. (The bf16
// compute path of matmul/linear: tests/autograd/precision_test.cpp.)
#include "kiln/kernels/cpu/gemm.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kiln/base/error.hpp"

#include "support/random_values.hpp"

namespace kiln::cpu {
namespace {

std::vector<float> random_values(int64_t n, uint64_t stream) { return testing::random_values(n, 3, stream); }

// C = alpha·op(A)·op(B) + beta·C in f64, with A and B as given (already rounded).
std::vector<double> reference(const GemmShape& s, double alpha, const std::vector<double>& a,
                              const std::vector<double>& b, double beta, const std::vector<double>& c) {
  std::vector<double> out = c;
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < s.k; ++p)
        acc += (s.trans_a ? a[p * s.lda + i] : a[i * s.lda + p]) * (s.trans_b ? b[j * s.ldb + p] : b[p * s.ldb + j]);
      out[i * s.ldc + j] = alpha * acc + beta * c[i * s.ldc + j];
    }
  return out;
}

TEST(Gemm, AllLayoutsMatchAPlainLoop) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (bool use_bf16 : {false, true}) {
        if (use_bf16 && !has_bf16_gemm()) continue;  // no oneDNN bf16 kernel here: Gemm.Bf16KernelOrAClearError
        const int64_t m = 37, n = 29, k = 53;
        GemmShape s{ta, tb, m, n, k, (ta ? m : k) + 3, (tb ? k : n) + 5, n + 2};
        const size_t a_size = static_cast<size_t>((ta ? k : m) * s.lda), b_size = static_cast<size_t>((tb ? n : k) * s.ldb);
        std::vector<float> a = random_values(a_size, 1), b = random_values(b_size, 2);
        std::vector<float> c = random_values(static_cast<size_t>(m * s.ldc), 3);
        std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end()), cd(c.begin(), c.end());
        if (use_bf16) {
          std::vector<bf16> a16(a.size()), b16(b.size());
          for (size_t i = 0; i < a.size(); ++i) ad[i] = static_cast<float>(a16[i] = bf16(a[i]));
          for (size_t i = 0; i < b.size(); ++i) bd[i] = static_cast<float>(b16[i] = bf16(b[i]));
          gemm(s, 0.5f, a16.data(), b16.data(), 1.0f, c.data());
        } else {
          gemm(s, 0.5f, a.data(), b.data(), 1.0f, c.data());
        }
        const std::vector<double> expected = reference(s, 0.5, ad, bd, 1.0, cd);
        double worst = 0;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) worst = std::max(worst, std::abs(c[i * s.ldc + j] - expected[i * s.ldc + j]));
        // Products of bf16 values are exact in f32; what remains is f32 summation over k = 53.
        EXPECT_LT(worst, 1e-4) << "trans_a " << ta << " trans_b " << tb << " bf16 " << use_bf16;
      }
}

// oneDNN 2.6 multiplies bf16 only on AVX-512 CPUs; elsewhere a bf16 product
// is an error that says so, never a crash (the bf16 compute path then
// multiplies bf16-rounded operands in f32: kernels/cpu/bf16_gemm_choice.hpp).
TEST(Gemm, Bf16KernelOrAClearError) {
  const std::vector<bf16> a(6, bf16(1.0f)), b(6, bf16(2.0f));
  std::vector<float> c(4);
  const GemmShape s{false, false, 2, 2, 3, 3, 2, 2};
  if (has_bf16_gemm()) {
    gemm(s, 1.0f, a.data(), b.data(), 0.0f, c.data());
    EXPECT_EQ(c, std::vector<float>(4, 6.0f));
  } else {
    try {
      gemm(s, 1.0f, a.data(), b.data(), 0.0f, c.data());
      ADD_FAILURE() << "a bf16 product without a bf16 kernel must fail";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("no bf16 matmul for this CPU"), std::string::npos) << e.what();
    }
  }
}



}  // namespace
}  // namespace kiln::cpu
