// Op-level timings (forward + backward where the op has one), on the same
// shapes as bench/torch_ops.py; bench/compare.py prints the two side by side.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/ops/attention.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/optim/optimizer.hpp"

namespace {

using namespace kiln;

Tensor random_tensor(const Shape& shape, uint64_t stream, bool grad = true) {
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = philox_normal({1, stream}, static_cast<uint64_t>(i));
  if (grad) t.set_requires_grad(true);
  return t;
}

void BM_attention_causal(benchmark::State& state) {
  const int64_t t = state.range(0);
  Tensor q = random_tensor({1, t, 6, 64}, 1), k = random_tensor({1, t, 6, 64}, 2), v = random_tensor({1, t, 6, 64}, 3);
  const Tensor dout = random_tensor({1, t, 6, 64}, 4, false);
  ops::AttentionOptions o;
  o.causal = true;
  for (auto _ : state) {
    backward(ops::attention(q, k, v, o), dout);
    q.zero_grad();
    k.zero_grad();
    v.zero_grad();
  }
}

// The Fashion-MNIST ViT's attention (256 images, 50 tokens, 4 heads of 16),
// without (arg 0) and with (arg 1) a key bias, as ToMe's proportional attention adds.
void BM_attention_vit(benchmark::State& state) {
  Tensor q = random_tensor({256, 50, 4, 16}, 11), k = random_tensor({256, 50, 4, 16}, 12),
         v = random_tensor({256, 50, 4, 16}, 13);
  const Tensor dout = random_tensor({256, 50, 4, 16}, 14, false);
  ops::AttentionOptions o;
  if (state.range(0) == 1) o.key_bias = random_tensor({256, 50}, 15, false);
  for (auto _ : state) {
    backward(ops::attention(q, k, v, o), dout);
    q.zero_grad();
    k.zero_grad();
    v.zero_grad();
  }
}

template <bool Rms>
void BM_norm(benchmark::State& state) {
  Tensor x = random_tensor({4096, 768}, 5), w = random_tensor({768}, 6), b = random_tensor({768}, 7);
  const Tensor dout = random_tensor({4096, 768}, 8, false);
  for (auto _ : state) {
    backward(Rms ? ops::rms_norm(x, w, 1e-6) : ops::layer_norm(x, w, b, 1e-5), dout);
    x.zero_grad();
    w.zero_grad();
    b.zero_grad();
  }
}

void BM_cross_entropy(benchmark::State& state) {
  Tensor logits = random_tensor({2048, 8192}, 9);
  Tensor targets = Tensor::empty({2048}, DType::i64);
  for (int64_t i = 0; i < 2048; ++i) targets.data<int64_t>()[i] = (i * 7919) % 8192;
  for (auto _ : state) {
    backward(ops::cross_entropy(logits, targets));
    logits.zero_grad();
  }
}

void BM_adamw(benchmark::State& state) {
  std::map<std::string, Tensor> params;
  for (int i = 0; i < 10; ++i) {
    Tensor p = random_tensor({1000, 1000}, 10 + i);
    p.set_grad(random_tensor({1000, 1000}, 30 + i, false));
    params[fmt::format("p{}", i)] = p;
  }
  optim::AdamW opt(params, {});
  for (auto _ : state) opt.step();
}

}  // namespace

BENCHMARK(BM_attention_causal)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_attention_vit)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_norm<false>)->Name("BM_layer_norm")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_norm<true>)->Name("BM_rms_norm")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_cross_entropy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_adamw)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
