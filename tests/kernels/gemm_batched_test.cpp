// Batched (strided) GEMM against a plain f64 loop, f32 and bf16; the
// primitive cache across thread counts; and the bf16 compute path of
// ops::matmul / ops::linear (forward and gradients) against f32.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <vector>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/precision.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/base/threads.hpp"
#include "kiln/kernels/cpu/bf16_gemm_choice.hpp"
#include "kiln/kernels/cpu/gemm.hpp"

namespace kiln {
namespace {

using cpu::GemmBatch;
using cpu::GemmShape;

std::vector<float> random_values(size_t n, uint64_t stream) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = philox_normal({7, stream}, i);
  return v;
}

Tensor random_tensor(const Shape& shape, uint64_t stream) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return Tensor::from<float>(random_values(static_cast<size_t>(n), stream), shape);
}

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

// Σ_p |op(A)_ip|·|op(B)_pj| in f64: the scale of every term of a product.
std::vector<double> abs_product(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  auto abs64 = [](const Tensor& t) {
    const std::vector<float> v = t.to_vector<float>();
    std::vector<double> d(v.size());
    for (size_t i = 0; i < v.size(); ++i) d[i] = std::abs(static_cast<double>(v[i]));
    return Tensor::from<double>(d, t.shape());
  };
  return ops::matmul(abs64(a), abs64(b), ta, tb).to_vector<double>();
}

// The bf16 path rounds both operands to bf16 (8 significant bits, unit
// roundoff u = 2^-8), multiplies exactly in f32 and accumulates in f32. Each
// term a·b therefore carries a relative error of at most (1+u)²−1 < 1.01·2^-7,
// and both sides carry f32 summation error ≤ k·2^-24 per unit of Σ|a||b|:
//   |C_bf16 − C_f32| ≤ (1.01·2^-7 + 2k·2^-24) · Σ_p |a_ip||b_pj|   (elementwise, rigorous).
// With random signs the errors also average out: normwise the relative error
// is about u·sqrt(2/3) ≈ 0.8·2^-8; we require < 2^-7 (and > 0: it did round).
void expect_bf16_close(const Tensor& f32, const Tensor& b16, const std::vector<double>& scale, int64_t k,
                       const char* what) {
  const std::vector<float> x = f32.to_vector<float>(), y = b16.to_vector<float>();
  ASSERT_EQ(x.size(), scale.size()) << what;
  const double term = 1.01 * std::ldexp(1.0, -7) + 2.0 * static_cast<double>(k) * std::ldexp(1.0, -24);
  double err2 = 0, norm2 = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double diff = static_cast<double>(y[i]) - x[i];
    ASSERT_LE(std::abs(diff), term * scale[i]) << what << " element " << i;
    err2 += diff * diff;
    norm2 += static_cast<double>(x[i]) * x[i];
  }
  const double relative = std::sqrt(err2 / norm2);
  EXPECT_LT(relative, std::ldexp(1.0, -7)) << what;
  EXPECT_GT(relative, 0.0) << what << ": bf16 really rounds";
}

TEST(Bf16Path, LinearForwardAndGradientsStayWithinTheRoundingBound) {
  if (!cpu::bf16_gemm_choice().native) GTEST_SKIP() << cpu::bf16_gemm_choice().reason;
  const Tensor x = random_tensor({2, 48, 96}, 10), w = random_tensor({80, 96}, 11), dout = random_tensor({2, 48, 80}, 12);
  auto run = [&](Precision p) {
    Tensor xl = x.clone().set_requires_grad(true), wl = w.clone().set_requires_grad(true);
    PrecisionGuard guard(p);
    Tensor y = ops::linear(xl, wl);
    backward(y, dout);
    return std::vector<Tensor>{y, xl.grad(), wl.grad()};
  };
  const auto f32 = run(Precision::f32), b16 = run(Precision::bf16);
  expect_bf16_close(f32[0], b16[0], abs_product(x, w, false, true), 96, "y = x·wᵀ");
  expect_bf16_close(f32[1], b16[1], abs_product(dout, w, false, false), 80, "dx = dy·w");
  expect_bf16_close(f32[2], b16[2], abs_product(dout.reshape({96, 80}), x.reshape({96, 96}), true, false), 96,
                    "dw = dyᵀ·x");
  EXPECT_EQ(b16[2].dtype(), DType::f32) << "master gradients stay f32";
}

TEST(Bf16Path, BatchedAttentionProductsStayWithinTheRoundingBound) {
  if (!cpu::bf16_gemm_choice().native) GTEST_SKIP() << cpu::bf16_gemm_choice().reason;
  // [B, H, T, D] products as attention makes them: S = Q·Kᵀ and O = P·V.
  const Tensor q = random_tensor({2, 3, 40, 64}, 20), k = random_tensor({2, 3, 40, 64}, 21);
  const Tensor ds = random_tensor({2, 3, 40, 40}, 22), p = random_tensor({2, 3, 40, 40}, 23);
  const Tensor v = random_tensor({2, 3, 40, 64}, 24), dout = random_tensor({2, 3, 40, 64}, 25);
  auto run = [&](Precision precision) {
    Tensor ql = q.clone().set_requires_grad(true), kl = k.clone().set_requires_grad(true);
    Tensor pl = p.clone().set_requires_grad(true), vl = v.clone().set_requires_grad(true);
    PrecisionGuard guard(precision);
    Tensor s = ops::matmul(ql, kl, false, true), o = ops::matmul(pl, vl);
    backward(s, ds);
    backward(o, dout);
    return std::vector<Tensor>{s, ql.grad(), kl.grad(), o, pl.grad(), vl.grad()};
  };
  const auto f32 = run(Precision::f32), b16 = run(Precision::bf16);
  expect_bf16_close(f32[0], b16[0], abs_product(q, k, false, true), 64, "S = Q·Kᵀ");
  expect_bf16_close(f32[1], b16[1], abs_product(ds, k, false, false), 40, "dQ = dS·K");
  expect_bf16_close(f32[2], b16[2], abs_product(ds, q, true, false), 40, "dK = dSᵀ·Q");
  expect_bf16_close(f32[3], b16[3], abs_product(p, v, false, false), 40, "O = P·V");
  expect_bf16_close(f32[4], b16[4], abs_product(dout, v, false, true), 64, "dP = dO·Vᵀ");
  expect_bf16_close(f32[5], b16[5], abs_product(p, dout, true, false), 40, "dV = Pᵀ·dO");
}

TEST(Bf16Path, WithoutTheGuardMatmulIsExactlyTheF32Kernel) {
  const Tensor q = random_tensor({2, 3, 40, 64}, 30), k = random_tensor({2, 3, 40, 64}, 31);
  const std::vector<float> plain = ops::matmul(q, k, false, true).to_vector<float>();
  std::vector<float> direct(2 * 3 * 40 * 40);
  cpu::gemm_batched(GemmShape{false, true, 40, 40, 64, 64, 64, 40}, GemmBatch{6, 40 * 64, 40 * 64, 40 * 40}, 1.0f,
                    q.data<float>(), k.data<float>(), 0.0f, direct.data());
  EXPECT_EQ(plain, direct);
  {
    PrecisionGuard guard(Precision::bf16);
    if (cpu::bf16_gemm_choice().native) {
      EXPECT_NE(ops::matmul(q, k, false, true).to_vector<float>(), plain);
    } else {  // this CPU's bf16 GEMM loses to f32: bf16 matmuls are the f32 ones
      EXPECT_EQ(ops::matmul(q, k, false, true).to_vector<float>(), plain);
    }
    {
      PrecisionGuard inner(Precision::f32);
      EXPECT_EQ(ops::matmul(q, k, false, true).to_vector<float>(), plain);
    }
  }
  EXPECT_EQ(matmul_precision(), Precision::f32);
  EXPECT_EQ(ops::matmul(q, k, false, true).to_vector<float>(), plain);
}

}  // namespace
}  // namespace kiln
