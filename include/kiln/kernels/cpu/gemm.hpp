#pragma once
// Row-major GEMM: C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C, where
// op(X) is X or Xᵀ. Leading dimensions are row strides in elements.
// f32 goes to oneDNN (chosen by measurement, docs/benchmarks.md); f64 is a
// plain loop that exists for gradient checks, not speed.
#include <cstdint>

#include "kiln/tensor/bf16.hpp"

namespace kiln::cpu {

struct GemmShape {
  bool trans_a = false;
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
};

void gemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c);
void gemm(const GemmShape& s, double alpha, const double* a, const double* b, double beta, double* c);
// bf16 inputs, f32 accumulation and output.
void gemm(const GemmShape& s, float alpha, const bf16* a, const bf16* b, float beta, float* c);

}  // namespace kiln::cpu
