// GEMM throughput for the shapes of small transformers, f32 (oneDNN sgemm,
// the library kiln uses) and bf16 (oneDNN matmul, f32 accumulation).
// When built with -DKILN_BENCH_OPENBLAS=ON, OpenBLAS's cblas_sgemm runs on the
// same shapes for the library choice recorded in docs/benchmarks.md.
// Threads: OMP_NUM_THREADS (oneDNN) and OPENBLAS_NUM_THREADS.
#include <benchmark/benchmark.h>

#include <vector>

#include "kiln/kernels/cpu/gemm.hpp"

#ifdef KILN_BENCH_OPENBLAS
#include <cblas.h>
#endif

namespace {

using kiln::bf16;
using kiln::cpu::GemmShape;

// {M, N, K}: tokens × out × in for B·T = 2048 tokens of a d = 384/768 model,
// the vocabulary head, and one attention-sized product.
const std::vector<std::vector<int64_t>> kShapes = {
    {2048, 384, 384}, {2048, 1536, 384}, {2048, 384, 1536}, {2048, 768, 768},
    {2048, 3072, 768}, {2048, 8192, 384}, {256, 256, 64},
};

void set_flops(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(m * n * k) * static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void BM_Gemm_F32_oneDNN(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  std::vector<float> a(m * k, 0.5f), b(k * n, 0.25f), c(m * n);
  for (auto _ : state) kiln::cpu::gemm(GemmShape{false, true, m, n, k, k, k, n}, 1.0f, a.data(), b.data(), 0.0f, c.data());
  set_flops(state, m, n, k);
}

void BM_Gemm_BF16_oneDNN(benchmark::State& state) {
  if (!kiln::cpu::has_bf16_gemm()) {
    state.SkipWithError("oneDNN has no bf16 GEMM for this CPU");
    return;
  }
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  std::vector<bf16> a(m * k, bf16(0.5f)), b(k * n, bf16(0.25f));
  std::vector<float> c(m * n);
  for (auto _ : state) kiln::cpu::gemm(GemmShape{false, true, m, n, k, k, k, n}, 1.0f, a.data(), b.data(), 0.0f, c.data());
  set_flops(state, m, n, k);
}

#ifdef KILN_BENCH_OPENBLAS
void BM_Gemm_F32_OpenBLAS(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  std::vector<float> a(m * k, 0.5f), b(k * n, 0.25f), c(m * n);
  for (auto _ : state)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                1.0f, a.data(), static_cast<int>(k), b.data(), static_cast<int>(k), 0.0f, c.data(), static_cast<int>(n));
  set_flops(state, m, n, k);
}
#endif

void shapes(benchmark::internal::Benchmark* b) {
  for (const auto& s : kShapes) b->Args(s);
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_Gemm_F32_oneDNN)->Apply(shapes);
BENCHMARK(BM_Gemm_BF16_oneDNN)->Apply(shapes);
#ifdef KILN_BENCH_OPENBLAS
BENCHMARK(BM_Gemm_F32_OpenBLAS)->Apply(shapes);
#endif
BENCHMARK_MAIN();
