#pragma once
// Whether bf16 matrix products should run on the GEMM library's bf16 path on
// this CPU. oneDNN 2.6's bf16 matmul is fast where the CPU has native bf16
// dot products that it uses (AMD Zen 4/5), but slower than its own f32 GEMM
// elsewhere (an Intel Xeon with avx512_bf16 measured 110-150 against 240-268
// GFLOP/s; CPUs without AVX-512 have no bf16 kernel at all). A bf16 training
// run must never be slower than the f32 one on the same machine, so the
// choice is measured, once per process, on one product of each kind.
//
// Where bf16 loses, the bf16 path keeps its numerics and changes only the
// arithmetic: operands are still rounded to bf16 (round to nearest even), but
// kept in f32 storage and multiplied by the f32 GEMM. A product of two bf16
// values is exact in f32 and both paths accumulate in f32, so the results
// agree up to the order of the additions.
#include <cstdint>
#include <string>

namespace kiln::cpu {

struct Bf16GemmChoice {
  bool native = true;       // false: bf16-rounded operands go through the f32 GEMM
  double f32_gflops = 0;    // measured rates (0 when KILN_BF16_GEMM decided)
  double bf16_gflops = 0;
  std::string reason;       // one line: what was measured or set, and the choice
};

// Measured on the first call (a 512×512×512 product in each precision, best
// of three after a warm-up, on the calling thread's OpenMP thread count) and
// cached for the process. KILN_BF16_GEMM=native or =f32 skips the measurement
// (for benchmarks of either path); any other value is an error.
const Bf16GemmChoice& bf16_gemm_choice();

// dst[i] = float(bf16(src[i])): src rounded to bf16 precision, kept in f32.
// Same rounding as convert_to_bf16; src and dst may be the same buffer.
void round_to_bf16_precision(const float* src, float* dst, int64_t n);

}  // namespace kiln::cpu
