#include "kiln/kernels/cpu/bf16_gemm_choice.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "kiln/base/error.hpp"
#include "kiln/kernels/cpu/gemm.hpp"

namespace kiln::cpu {

namespace {

constexpr int64_t kProbeSize = 512;

// Best of three timed runs after one warm-up (which also builds oneDNN's kernel), in GFLOP/s.
template <typename Run>
double best_gflops(Run run) {
  run();
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return 2.0 * static_cast<double>(kProbeSize * kProbeSize * kProbeSize) / best / 1e9;
}

std::string what_runs(bool native) {
  return native ? "bf16 matmuls use the bf16 GEMM" : "bf16 matmuls run in f32 (f32 speed and numbers)";
}

Bf16GemmChoice measure() {
  const int64_t n = kProbeSize;
  const GemmShape shape{false, true, n, n, n, n, n, n};
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n);
  std::vector<bf16> a16(n * n, bf16(0.5f)), b16(n * n, bf16(0.25f));
  Bf16GemmChoice choice;
  choice.f32_gflops = best_gflops([&] { gemm(shape, 1.0f, a.data(), b.data(), 0.0f, c.data()); });
  if (has_bf16_gemm())
    choice.bf16_gflops = best_gflops([&] { gemm(shape, 1.0f, a16.data(), b16.data(), 0.0f, c.data()); });
  choice.native = choice.bf16_gflops > choice.f32_gflops;
  const std::string measured =
      has_bf16_gemm() ? fmt::format("bf16 GEMM {:.0f} GFLOP/s, f32 GEMM {:.0f} GFLOP/s on this CPU", choice.bf16_gflops,
                                    choice.f32_gflops)
                      : fmt::format("no bf16 GEMM kernel for this CPU (f32 GEMM {:.0f} GFLOP/s)", choice.f32_gflops);
  choice.reason = fmt::format("{}: {}", measured, what_runs(choice.native));
  return choice;
}

Bf16GemmChoice decide() {
  const char* forced = std::getenv("KILN_BF16_GEMM");
  if (forced == nullptr || *forced == '\0') return measure();
  const std::string value = forced;
  KILN_CHECK(value == "native" || value == "f32", "KILN_BF16_GEMM must be 'native' or 'f32', got '{}'", value);
  Bf16GemmChoice choice;
  choice.native = value == "native";
  choice.reason = fmt::format("KILN_BF16_GEMM={}: {}", value, what_runs(choice.native));
  return choice;
}

}  // namespace

const Bf16GemmChoice& bf16_gemm_choice() {
  static const Bf16GemmChoice choice = decide();
  return choice;
}

}  // namespace kiln::cpu
