// The GEMM library choice, measured (docs/benchmarks.md, "## GEMM").
//
// Candidates, each called the way kiln would call it:
//   sgemm      oneDNN's BLAS-like dnnl_sgemm (no primitive object)
//   matmul     oneDNN's matmul primitive, created once per shape outside the
//              timed loop (what a shape-keyed primitive cache gives)
//   matmul_new the matmul primitive re-created every call (what a cache saves;
//              oneDNN's own primitive cache still skips the JIT)
//   kiln       kiln::cpu::gemm / gemm_batched as built (the chosen path)
//   openblas   cblas_sgemm, only with -DKILN_BENCH_OPENBLAS=ON (not a kiln
//              dependency; Debian's libopenblas as the machine ships it, with
//              this machine's OPENBLAS_CORETYPE left alone)
// Dense shapes are C[M,N] = A[M,K]·B[N,K]ᵀ, the layout of `linear`; batched
// shapes are attention's [B·H, T, 64] products: S = Q·Kᵀ and O = P·V.
// Threads: OMP_NUM_THREADS (oneDNN and kiln share libgomp), and
// OPENBLAS_NUM_THREADS for OpenBLAS's own pthread pool.
#include <benchmark/benchmark.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <string>
#include <vector>

#include "kiln/kernels/cpu/gemm.hpp"

#ifdef KILN_BENCH_OPENBLAS
#include <cblas.h>
#endif

namespace {

using kiln::bf16;
using dt = dnnl::memory::data_type;

// {M, N, K}.
const std::vector<std::vector<int64_t>> kDense = {
    {512, 384, 384},   {512, 1536, 384},  {512, 384, 1536},  {512, 8192, 384},   {2048, 256, 256},
    {2048, 384, 384},  {2048, 1536, 384}, {2048, 384, 1536}, {2048, 768, 768},   {2048, 3072, 768},
    {2048, 768, 3072}, {2048, 1024, 1024}, {2048, 8192, 384}, {4096, 768, 768}, {4096, 3072, 768},
    {4096, 8192, 768},
};
// {batch = B·H, T, D}: S[b] = Q[b]·K[b]ᵀ (T×T×D) and O[b] = P[b]·V[b] (T×D×T).
const std::vector<std::vector<int64_t>> kBatched = {{24, 128, 64}, {12, 256, 64}, {6, 1024, 64}};

void set_flops(benchmark::State& state, double flop_per_iteration) {
  state.counters["GFLOP/s"] = benchmark::Counter(flop_per_iteration * static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

template <typename T>
std::vector<T> filled(int64_t n, float value) {
  return std::vector<T>(static_cast<size_t>(n), T(value));
}

struct Dnnl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};
Dnnl& dnnl_objects() {
  static Dnnl d;
  return d;
}

// Batched matmul descriptors: A [batch, m, k] (row-major, or transposed when
// trans), B likewise [batch, k, n]; contiguous per batch entry.
dnnl::memory::desc desc3(int64_t batch, int64_t rows, int64_t cols, bool trans, dt type) {
  const dnnl::memory::dims strides =
      trans ? dnnl::memory::dims{rows * cols, 1, rows} : dnnl::memory::dims{rows * cols, cols, 1};
  return dnnl::memory::desc({batch, rows, cols}, type, strides);
}

dnnl::matmul make_matmul(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_b, dt in) {
  Dnnl& d = dnnl_objects();
  const dnnl::matmul::desc md(desc3(batch, m, k, false, in), desc3(batch, k, n, trans_b, in),
                              desc3(batch, m, n, false, dt::f32));
  return dnnl::matmul(dnnl::matmul::primitive_desc(md, d.engine));
}

template <typename T>
void run_matmul(const dnnl::matmul& prim, int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_b, dt in,
                const T* a, const T* b, float* c) {
  Dnnl& d = dnnl_objects();
  dnnl::memory am(desc3(batch, m, k, false, in), d.engine, const_cast<T*>(a));
  dnnl::memory bm(desc3(batch, k, n, trans_b, in), d.engine, const_cast<T*>(b));
  dnnl::memory cm(desc3(batch, m, n, false, dt::f32), d.engine, c);
  prim.execute(d.stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
  d.stream.wait();
}

// ---- dense ------------------------------------------------------------------

void BM_dense_f32_sgemm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  auto a = filled<float>(m * k, 0.5f), b = filled<float>(n * k, 0.25f), c = filled<float>(m * n, 0);
  for (auto _ : state) dnnl_sgemm('N', 'T', m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  set_flops(state, 2.0 * m * n * k);
}

template <typename T>
void BM_dense_matmul(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const dt in = std::is_same_v<T, float> ? dt::f32 : dt::bf16;
  auto a = filled<T>(m * k, 0.5f), b = filled<T>(n * k, 0.25f);
  auto c = filled<float>(m * n, 0);
  const dnnl::matmul prim = make_matmul(1, m, n, k, true, in);
  for (auto _ : state) run_matmul(prim, 1, m, n, k, true, in, a.data(), b.data(), c.data());
  set_flops(state, 2.0 * m * n * k);
}

template <typename T>
void BM_dense_matmul_new(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const dt in = std::is_same_v<T, float> ? dt::f32 : dt::bf16;
  auto a = filled<T>(m * k, 0.5f), b = filled<T>(n * k, 0.25f);
  auto c = filled<float>(m * n, 0);
  for (auto _ : state) run_matmul(make_matmul(1, m, n, k, true, in), 1, m, n, k, true, in, a.data(), b.data(), c.data());
  set_flops(state, 2.0 * m * n * k);
}

template <typename T>
void BM_dense_kiln(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  auto a = filled<T>(m * k, 0.5f), b = filled<T>(n * k, 0.25f);
  auto c = filled<float>(m * n, 0);
  for (auto _ : state)
    kiln::cpu::gemm(kiln::cpu::GemmShape{false, true, m, n, k, k, k, n}, 1.0f, a.data(), b.data(), 0.0f, c.data());
  set_flops(state, 2.0 * m * n * k);
}

#ifdef KILN_BENCH_OPENBLAS
void BM_dense_f32_openblas(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0)), n = static_cast<int>(state.range(1)),
            k = static_cast<int>(state.range(2));
  auto a = filled<float>(int64_t{m} * k, 0.5f), b = filled<float>(int64_t{n} * k, 0.25f),
       c = filled<float>(int64_t{m} * n, 0);
  for (auto _ : state)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  set_flops(state, 2.0 * m * n * k);
}
#endif

// ---- batched (attention-sized) -------------------------------------------------
// range(3): 0 = S = Q·Kᵀ ([T,D]·[T,D]ᵀ), 1 = O = P·V ([T,T]·[T,D]).

struct BatchedShape {
  int64_t batch, m, n, k;
  bool trans_b;
};
BatchedShape batched_shape(const benchmark::State& state) {
  const int64_t batch = state.range(0), t = state.range(1), d = state.range(2);
  return state.range(3) == 0 ? BatchedShape{batch, t, t, d, true} : BatchedShape{batch, t, d, t, false};
}

void BM_batched_f32_sgemm_loop(benchmark::State& state) {
  const BatchedShape s = batched_shape(state);
  auto a = filled<float>(s.batch * s.m * s.k, 0.5f), b = filled<float>(s.batch * s.k * s.n, 0.25f),
       c = filled<float>(s.batch * s.m * s.n, 0);
  const int64_t ldb = s.trans_b ? s.k : s.n;
  for (auto _ : state)
    for (int64_t i = 0; i < s.batch; ++i)
      dnnl_sgemm('N', s.trans_b ? 'T' : 'N', s.m, s.n, s.k, 1.0f, a.data() + i * s.m * s.k, s.k,
                 b.data() + i * s.k * s.n, ldb, 0.0f, c.data() + i * s.m * s.n, s.n);
  set_flops(state, 2.0 * s.batch * s.m * s.n * s.k);
}

template <typename T>
void BM_batched_matmul(benchmark::State& state) {
  const BatchedShape s = batched_shape(state);
  const dt in = std::is_same_v<T, float> ? dt::f32 : dt::bf16;
  auto a = filled<T>(s.batch * s.m * s.k, 0.5f), b = filled<T>(s.batch * s.k * s.n, 0.25f);
  auto c = filled<float>(s.batch * s.m * s.n, 0);
  const dnnl::matmul prim = make_matmul(s.batch, s.m, s.n, s.k, s.trans_b, in);
  for (auto _ : state) run_matmul(prim, s.batch, s.m, s.n, s.k, s.trans_b, in, a.data(), b.data(), c.data());
  set_flops(state, 2.0 * s.batch * s.m * s.n * s.k);
}

template <typename T>
void BM_batched_kiln(benchmark::State& state) {
  const BatchedShape s = batched_shape(state);
  auto a = filled<T>(s.batch * s.m * s.k, 0.5f), b = filled<T>(s.batch * s.k * s.n, 0.25f);
  auto c = filled<float>(s.batch * s.m * s.n, 0);
  const kiln::cpu::GemmShape g{false, s.trans_b, s.m, s.n, s.k, s.k, s.trans_b ? s.k : s.n, s.n};
  const kiln::cpu::GemmBatch batch{s.batch, s.m * s.k, s.k * s.n, s.m * s.n};
  for (auto _ : state) kiln::cpu::gemm_batched(g, batch, 1.0f, a.data(), b.data(), 0.0f, c.data());
  set_flops(state, 2.0 * s.batch * s.m * s.n * s.k);
}

#ifdef KILN_BENCH_OPENBLAS
void BM_batched_f32_openblas_loop(benchmark::State& state) {
  const BatchedShape s = batched_shape(state);
  auto a = filled<float>(s.batch * s.m * s.k, 0.5f), b = filled<float>(s.batch * s.k * s.n, 0.25f),
       c = filled<float>(s.batch * s.m * s.n, 0);
  const int m = static_cast<int>(s.m), n = static_cast<int>(s.n), k = static_cast<int>(s.k);
  for (auto _ : state)
    for (int64_t i = 0; i < s.batch; ++i)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, s.trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                  a.data() + i * s.m * s.k, k, b.data() + i * s.k * s.n, s.trans_b ? k : n, 0.0f,
                  c.data() + i * s.m * s.n, n);
  set_flops(state, 2.0 * s.batch * s.m * s.n * s.k);
}
#endif

void dense(benchmark::internal::Benchmark* b) {
  for (const auto& s : kDense) b->Args(s);
  b->ArgNames({"M", "N", "K"})->Unit(benchmark::kMillisecond)->UseRealTime();
}
void batched(benchmark::internal::Benchmark* b) {
  for (const auto& s : kBatched)
    for (int64_t which : {0, 1}) b->Args({s[0], s[1], s[2], which});
  b->ArgNames({"BH", "T", "D", "PV"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_dense_f32_sgemm)->Apply(dense);
BENCHMARK(BM_dense_matmul<float>)->Name("BM_dense_f32_matmul")->Apply(dense);
BENCHMARK(BM_dense_matmul_new<float>)->Name("BM_dense_f32_matmul_new")->Apply(dense);
BENCHMARK(BM_dense_kiln<float>)->Name("BM_dense_f32_kiln")->Apply(dense);
BENCHMARK(BM_dense_matmul<bf16>)->Name("BM_dense_bf16_matmul")->Apply(dense);
BENCHMARK(BM_dense_matmul_new<bf16>)->Name("BM_dense_bf16_matmul_new")->Apply(dense);
BENCHMARK(BM_dense_kiln<bf16>)->Name("BM_dense_bf16_kiln")->Apply(dense);
BENCHMARK(BM_batched_f32_sgemm_loop)->Apply(batched);
BENCHMARK(BM_batched_matmul<float>)->Name("BM_batched_f32_matmul")->Apply(batched);
BENCHMARK(BM_batched_kiln<float>)->Name("BM_batched_f32_kiln")->Apply(batched);
BENCHMARK(BM_batched_matmul<bf16>)->Name("BM_batched_bf16_matmul")->Apply(batched);
BENCHMARK(BM_batched_kiln<bf16>)->Name("BM_batched_bf16_kiln")->Apply(batched);
#ifdef KILN_BENCH_OPENBLAS
BENCHMARK(BM_dense_f32_openblas)->Apply(dense);
BENCHMARK(BM_batched_f32_openblas_loop)->Apply(batched);
#endif
BENCHMARK_MAIN();
