// matmul/linear as the model calls them (ops::linear, batched ops::matmul),
// forward + backward, in f32 and under PrecisionGuard(Precision::bf16).
// bench/torch_matmul_ops.py times the same ops and shapes in PyTorch (bf16:
// torch.autocast); bench/compare.sh prints the two side by side.
#include <benchmark/benchmark.h>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/precision.hpp"
#include "kiln/base/memory.hpp"
#include "kiln/base/philox.hpp"

namespace {

using namespace kiln;

Tensor random_tensor(const Shape& shape, uint64_t stream, bool grad = true) {
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = philox_normal({2, stream}, static_cast<uint64_t>(i));
  if (grad) t.set_requires_grad(true);
  return t;
}

Precision precision_of(const benchmark::State& state) { return state.range(0) ? Precision::bf16 : Precision::f32; }

// y = x·Wᵀ + b for x [M, K], W [N, K]; forward + backward.
void BM_linear(benchmark::State& state) {
  const int64_t m = state.range(1), n = state.range(2), k = state.range(3);
  Tensor x = random_tensor({m, k}, 1), w = random_tensor({n, k}, 2), b = random_tensor({n}, 3);
  const Tensor dout = random_tensor({m, n}, 4, false);
  PrecisionGuard guard(precision_of(state));
  for (auto _ : state) {
    backward(ops::linear(x, w, b), dout);
    x.zero_grad();
    w.zero_grad();
    b.zero_grad();
  }
}

// S = Q·Kᵀ then O = S·V with [B, H, T, D] operands; forward + backward.
void BM_attention_matmuls(benchmark::State& state) {
  const int64_t bh = state.range(1), t = state.range(2), d = state.range(3);
  Tensor q = random_tensor({bh / 6, 6, t, d}, 5), k = random_tensor({bh / 6, 6, t, d}, 6),
         v = random_tensor({bh / 6, 6, t, d}, 7);
  const Tensor dout = random_tensor({bh / 6, 6, t, d}, 8, false);
  PrecisionGuard guard(precision_of(state));
  for (auto _ : state) {
    backward(ops::matmul(ops::matmul(q, k, false, true), v), dout);
    q.zero_grad();
    k.zero_grad();
    v.zero_grad();
  }
}

}  // namespace

BENCHMARK(BM_linear)
    ->ArgNames({"bf16", "M", "N", "K"})
    ->ArgsProduct({{0, 1}, {2048}, {768}, {768}})
    ->ArgsProduct({{0, 1}, {2048}, {3072}, {768}})
    ->ArgsProduct({{0, 1}, {2048}, {8192}, {384}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_attention_matmuls)
    ->ArgNames({"bf16", "BH", "T", "D"})
    ->ArgsProduct({{0, 1}, {12}, {256}, {64}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
// As the kiln program does at start (apps/kiln/main.cpp): freed memory stays
// mapped, so library temporaries do not page-fault on every call.
int main(int argc, char** argv) {
  kiln::keep_freed_memory();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
