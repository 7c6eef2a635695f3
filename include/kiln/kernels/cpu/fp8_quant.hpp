#pragma once
// DeepSeek-V3's fine-grained FP8 (E4M3) quantisation, emulated on the CPU.
// A group of values shares one f32 scale s = max(amax, 1e-4) / 448 (or the
// next power of two, `ue8m0`), and each value is stored as E4M3(x / s).
// Groups run along the inner dimension K of the GEMM they feed:
//   rows:   1 × 128 tiles along K (activations, and dY for Dgrad)
//   cols:   128 × 1 tiles along the row axis (X and dY for Wgrad, where K is the token axis)
//   blocks: 128 × 128 tiles (weights)
// K need not be a multiple of 128: an edge group is simply shorter (the zero
// padding of the reference kernel does not change its amax).
#include <cstdint>
#include <vector>

namespace kiln::cpu {

inline constexpr int64_t kFp8Group = 128;

enum class Fp8Grouping { rows, cols, blocks };

struct Fp8Quantized {
  std::vector<uint8_t> codes;  // E4M3, same layout as the input [rows, cols]
  std::vector<float> scales;   // one per group, row-major over the group grid
  int64_t rows = 0, cols = 0;
  Fp8Grouping grouping = Fp8Grouping::rows;
};

Fp8Quantized fp8_quantize(const float* x, int64_t rows, int64_t cols, Fp8Grouping grouping, bool ue8m0 = false);
// Writes q · s back as f32 ("fake quantisation": the value an FP8 GEMM sees).
void fp8_dequantize(const Fp8Quantized& q, float* out);

// The block-scaled GEMM of DeepSeek's kernel: Y[m, n] = Σ_kb s_A[m, kb] ·
// s_W[n/128, kb] · Σ_{k ∈ kb} q_A[m, k] · q_W[n, k], each 128-term inner sum
// in f32 and promoted into an f32 accumulator. A is [M, K] quantised by rows,
// W is [N, K] quantised by blocks; Y is [M, N] f32.
void fp8_block_gemm(const Fp8Quantized& a, const Fp8Quantized& w, float* y);

}  // namespace kiln::cpu
