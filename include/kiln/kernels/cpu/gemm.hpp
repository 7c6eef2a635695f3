#pragma once
// Row-major GEMM: C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C, where
// op(X) is X or Xᵀ. Leading dimensions are row strides in elements.
//
// Library: oneDNN, chosen by measurement (docs/benchmarks.md, "## GEMM").
// - f32 single products go to dnnl_sgemm: as fast as the matmul primitive on
//   the dense shapes measured, and cheaper for the small tiles the attention
//   kernel multiplies from inside its own parallel loop.
// - bf16 products (bf16 operands, f32 accumulation and output) and every
//   batched product go to oneDNN's matmul primitive, created once per shape
//   and thread count and kept in a small per-thread cache (gemm.cpp).
// - f32 products of at most kGemvMaxRows rows with a transposed B (a
//   weight stored [n, k]: what a decoding step multiplies) go to our own
//   kernel, gemv.hpp, which streams each weight row once.
// - f64 is a plain loop that exists for gradient checks, not speed.
// Threads: oneDNN runs on the program's OpenMP pool (base/threads.hpp).
#include <cstdint>

#include "kiln/tensor/bf16.hpp"

namespace kiln::cpu {

struct GemmShape {
  bool trans_a = false;
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
};

// `count` products C_i = alpha·op(A_i)·op(B_i) + beta·C_i with A_i = a + i·stride_a
// (likewise b, c), all of shape `GemmShape`. A stride of 0 shares that operand
// across the batch (a weight); stride_c must not be 0 when count > 1.
struct GemmBatch {
  int64_t count = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

void gemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c);
void gemm(const GemmShape& s, double alpha, const double* a, const double* b, double beta, double* c);
// bf16 inputs, f32 accumulation and output. oneDNN 2.6 has bf16 matmul
// kernels only for CPUs with AVX-512 (on others it is an error naming the CPU's
// lack; has_bf16_gemm() tells beforehand).
bool has_bf16_gemm();
void gemm(const GemmShape& s, float alpha, const bf16* a, const bf16* b, float beta, float* c);

// One oneDNN batched matmul for the whole batch (f32, and bf16 with f32
// accumulation and output); f64 loops over gemm().
void gemm_batched(const GemmShape& s, const GemmBatch& batch, float alpha, const float* a, const float* b, float beta,
                  float* c);
void gemm_batched(const GemmShape& s, const GemmBatch& batch, double alpha, const double* a, const double* b,
                  double beta, double* c);
void gemm_batched(const GemmShape& s, const GemmBatch& batch, float alpha, const bf16* a, const bf16* b, float beta,
                  float* c);

// dst[i] = bf16(src[i]) (round to nearest even, NaN stays NaN), bit for bit
// the bf16(float) constructor; vectorised and parallel over the OpenMP pool.
// The bf16 compute path rounds every f32 operand with it before a bf16 GEMM.
void convert_to_bf16(const float* src, bf16* dst, int64_t n);

}  // namespace kiln::cpu
