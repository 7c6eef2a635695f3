// The precision scopes of matmul and linear (autograd/precision.hpp): bf16
// stays within its rounding bound of f32 where the bf16 GEMM is used and is
// the f32 run bit for bit where it is not; fp8 stays near f32.
#include "kiln/autograd/precision.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/kernels/cpu/bf16_gemm_choice.hpp"
#include "kiln/kernels/cpu/gemm.hpp"

namespace kiln {
namespace {

using cpu::GemmBatch;
using cpu::GemmShape;

std::vector<float> gaussian(size_t n, uint64_t seed, uint64_t stream) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = philox_normal({seed, stream}, i);
  return v;
}

Tensor random_tensor(const Shape& shape, uint64_t stream) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return Tensor::from<float>(gaussian(static_cast<size_t>(n), 7, stream), shape);
}

double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    err += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    norm += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(err / norm);
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

// y = x·wᵀ and the gradients of Σy² under a precision scope: {y, dx, dw}.
std::vector<Tensor> linear_run(const Tensor& x, const Tensor& w, Precision p) {
  Tensor xl = x.clone().set_requires_grad(true), wl = w.clone().set_requires_grad(true);
  PrecisionGuard guard(p);
  Tensor y = ops::linear(xl, wl);
  backward(ops::sum(ops::square(y)));
  return {y, xl.grad(), wl.grad()};
}

TEST(Bf16Scope, StaysCloseToF32) {
  if (!cpu::bf16_gemm_choice().native) GTEST_SKIP() << cpu::bf16_gemm_choice().reason;
  Tensor x = Tensor::from<float>(gaussian(8 * 64, 3, 4), {8, 64});
  Tensor w = Tensor::from<float>(gaussian(32 * 64, 3, 5), {32, 64});
  const auto f32 = linear_run(x, w, Precision::f32), b16 = linear_run(x, w, Precision::bf16);
  const auto again = linear_run(x, w, Precision::f32);
  EXPECT_EQ(f32[0].to_vector<float>(), again[0].to_vector<float>()) << "the guard is scoped";
  for (int t = 0; t < 3; ++t) {
    const auto a = f32[t].to_vector<float>(), b = b16[t].to_vector<float>();
    double err = 0, norm = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      err += (a[i] - b[i]) * (a[i] - b[i]);
      norm += a[i] * a[i];
    }
    // bf16 keeps 8 significant bits: relative rounding 2^-9 per operand; with
    // random signs the relative error of a dot product stays near that scale.
    EXPECT_LT(std::sqrt(err / norm), 1e-2) << "tensor " << t;
    EXPECT_GT(std::sqrt(err / norm), 0.0) << "bf16 really rounds";
  }
}

// Where the bf16 GEMM is slower than f32 (or absent), a bf16 scope must cost
// nothing: its matmuls are the f32 ones, values and gradients bit for bit.
TEST(Bf16Scope, IsTheF32RunWhereTheBf16GemmLoses) {
  if (cpu::bf16_gemm_choice().native) GTEST_SKIP() << cpu::bf16_gemm_choice().reason;
  Tensor x = Tensor::from<float>(gaussian(8 * 64, 3, 6), {8, 64});
  Tensor w = Tensor::from<float>(gaussian(32 * 64, 3, 7), {32, 64});
  const auto f32 = linear_run(x, w, Precision::f32), b16 = linear_run(x, w, Precision::bf16);
  for (int t = 0; t < 3; ++t) EXPECT_EQ(f32[t].to_vector<float>(), b16[t].to_vector<float>()) << "tensor " << t;
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

TEST(Fp8Scope, LinearStaysNearF32) {
  const Tensor x = Tensor::from<float>(gaussian(32 * 256, 11, 4), {32, 256});
  const Tensor w = Tensor::from<float>(gaussian(128 * 256, 11, 5), {128, 256});
  auto run = [&](Precision p) {
    Tensor xl = x.clone().set_requires_grad(true), wl = w.clone().set_requires_grad(true);
    PrecisionGuard guard(p);
    const Tensor y = ops::linear(xl, wl);
    backward(ops::sum(ops::square(y)));
    return std::vector<std::vector<float>>{y.to_vector<float>(), xl.grad().to_vector<float>(), wl.grad().to_vector<float>()};
  };
  const auto f32 = run(Precision::f32), fp8 = run(Precision::fp8);
  for (int t = 0; t < 3; ++t) {
    const double err = relative_error(fp8[t], f32[t]);
    EXPECT_LT(err, 0.08) << "tensor " << t;  // two quantised operands, Gaussian data: about 4–5 %
    EXPECT_GT(err, 0.005) << "tensor " << t;
  }
}

}  // namespace
}  // namespace kiln
