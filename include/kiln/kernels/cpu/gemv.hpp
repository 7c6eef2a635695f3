#pragma once
// Products of a few rows with a weight stored [n, k]: Y[m, n] = alpha · X[m, k] · Wᵀ + beta · Y,
// for m ≤ kGemvMaxRows. This is what a decoding step multiplies (one token,
// or a handful under speculative verification): every weight row is read
// once and used for all m rows of X, which is all the arithmetic there is, so
// the product runs at the speed the weights stream from memory. oneDNN's
// sgemm packs panels for such shapes and pays a per-call cost that a model
// of a few million parameters cannot hide (docs/benchmarks.md, "Decoding
// against llama.cpp"); gemm() sends these shapes here.
//
// Each output element is one dot product summed in a fixed order, whatever
// the thread count, so results do not change with OMP_NUM_THREADS.
#include <cstdint>

namespace kiln::cpu {

inline constexpr int64_t kGemvMaxRows = 4;

struct GemvShape {
  int64_t m = 0, n = 0, k = 0;
  int64_t ldx = 0, ldw = 0, ldy = 0;  // row strides in elements
};

// 1 ≤ m ≤ kGemvMaxRows (an error otherwise). beta == 0 never reads Y.
void gemv(const GemvShape& s, float alpha, const float* x, const float* w, float beta, float* y);

}  // namespace kiln::cpu
