#pragma once
// Whether bf16 matrix products should run on the GEMM library's bf16 path on
// this CPU. oneDNN 2.6's bf16 matmul is fast where the CPU has native bf16
// dot products that it uses (AMD Zen 4/5), but slower than its own f32 GEMM
// elsewhere (an Intel Xeon with avx512_bf16 measured 110-150 against 240-268
// GFLOP/s; CPUs without AVX-512 have no bf16 kernel at all). A bf16 training
// run must never be slower than the f32 one on the same machine, so the
// choice is measured, once per process, on one product of each kind.
//
// Where bf16 loses, bf16 matmuls run as f32 matmuls (f32 operands, no bf16
// rounding): exactly the f32 run's speed and numbers, and the trainer says so
// in one line. (Rounding the operands to bf16 and multiplying in f32 would
// keep bf16's numbers, but the extra rounding passes measured 4% slower than
// f32 on GPT-2 124M; docs/benchmarks.md.)
#include <string>

namespace kiln::cpu {

struct Bf16GemmChoice {
  bool native = true;       // false: bf16 matmuls run as f32 matmuls
  double f32_gflops = 0;    // measured rates (0 when KILN_BF16_GEMM decided)
  double bf16_gflops = 0;
  std::string reason;       // one line: what was measured or set, and the choice
};

// Measured on the first call (a 512×512×512 product in each precision, best
// of three after a warm-up, on the calling thread's OpenMP thread count) and
// cached for the process. KILN_BF16_GEMM=native or =f32 skips the measurement
// (for benchmarks of either path); any other value is an error.
const Bf16GemmChoice& bf16_gemm_choice();

}  // namespace kiln::cpu
