// The linear layers of one decoding step (every layer's weights, then the
// head), for one token (greedy decoding) and for two (a speculative
// verification), through kiln's GEMV kernel (cpu::gemv, what cpu::gemm runs
// for these shapes) and through oneDNN's sgemm called directly, at 1 and 2
// threads. Each repetition runs both engines and both token counts back to
// back over the same weights, so a busy machine slows them alike. Prints one
// JSON line per (shape, tokens, threads, engine): the median and the fastest
// ms per step, and at the median GFLOP/s and the rate the weights stream at
// (GB/s).
//
// Shapes: kjv-7m (configs/kjv.toml: 6 × 256, SwiGLU 768, 4,096-id head),
// gpt2-124m (12 × 768, GELU 3,072, 50,257-id head) and kjv-124m-mtp (12 × 768,
// SwiGLU 2,048, 4,096-id head: docs/deepseek.md's speculative-decoding model).
//
//   decode_gemm_bench [repetitions] [shape ...]   (default: 20 kjv-7m gpt2-124m)
#include <dnnl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/base/threads.hpp"
#include "kiln/kernels/cpu/gemv.hpp"

namespace {

struct Weight {
  int64_t n, k;  // out × in
  std::vector<float> values;
};

struct ModelShape {
  std::string name;
  int64_t layers, d, ffn, vocab;
  bool swiglu;
};

std::vector<Weight> step_weights(const ModelShape& s) {
  std::vector<std::pair<int64_t, int64_t>> per_layer;
  if (s.swiglu)
    per_layer = {{s.d, s.d}, {s.d, s.d}, {s.d, s.d}, {s.d, s.d}, {s.ffn, s.d}, {s.ffn, s.d}, {s.d, s.ffn}};
  else
    per_layer = {{3 * s.d, s.d}, {s.d, s.d}, {s.ffn, s.d}, {s.d, s.ffn}};
  std::vector<Weight> weights;
  for (int64_t l = 0; l < s.layers; ++l)
    for (const auto& [n, k] : per_layer)
      weights.push_back({n, k, std::vector<float>(static_cast<size_t>(n * k), 0.001f * static_cast<float>(l + 1))});
  weights.push_back({s.vocab, s.d, std::vector<float>(static_cast<size_t>(s.vocab * s.d), 0.002f)});
  return weights;
}

enum class Engine { gemv, onednn };

double time_step(Engine engine, const std::vector<Weight>& weights, const std::vector<float>& x, std::vector<float>& y,
                 int64_t m) {
  const auto t0 = std::chrono::steady_clock::now();
  for (const Weight& w : weights) {
    if (engine == Engine::gemv) {
      kiln::cpu::gemv({m, w.n, w.k, w.k, w.k, w.n}, 1.0f, x.data(), w.values.data(), 0.0f, y.data());
    } else {
      const dnnl_status_t status =
          dnnl_sgemm('N', 'T', m, w.n, w.k, 1.0f, x.data(), w.k, w.values.data(), w.k, 0.0f, y.data(), w.n);
      KILN_CHECK(status == dnnl_success, "oneDNN sgemm failed with status {}", static_cast<int>(status));
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e3;
}


void run_shape(const ModelShape& shape, int reps) {
  const std::vector<Weight> weights = step_weights(shape);
  int64_t params = 0, widest = 0;
  for (const Weight& w : weights) {
    params += w.n * w.k;
    widest = std::max({widest, w.n, w.k});
  }
  std::vector<float> x(static_cast<size_t>(2 * widest), 0.5f), y(static_cast<size_t>(2 * widest));
  struct Case {
    int64_t m;
    int threads;
    Engine engine;
    std::vector<double> ms;
  };
  std::vector<Case> cases;
  for (int64_t m : {1, 2})
    for (int threads : {1, 2})
      for (Engine e : {Engine::gemv, Engine::onednn}) cases.push_back({m, threads, e, {}});
  // One thread count at a time: the idle workers of a 2-thread region spin
  // for a while and would take the core from the 1-thread runs after them.
  for (int threads : {1, 2}) {
    kiln::set_num_threads(threads);
    for (int r = -1; r < reps; ++r)  // r = −1: warm-up, not kept
      for (Case& c : cases) {
        if (c.threads != threads) continue;
        const double ms = time_step(c.engine, weights, x, y, c.m);
        if (r >= 0) c.ms.push_back(ms);
      }
  }
  for (Case& c : cases) {
    std::sort(c.ms.begin(), c.ms.end());
    const double ms = c.ms[c.ms.size() / 2];
    const double flops = 2.0 * static_cast<double>(c.m * params), bytes = 4.0 * static_cast<double>(params);
    std::printf(
        "{\"shape\": \"%s\", \"weights_mib\": %.1f, \"tokens\": %ld, \"threads\": %d, \"engine\": \"%s\", "
        "\"ms_per_step\": %.3f, \"fastest_ms\": %.3f, \"gflop_per_s\": %.1f, \"weight_gb_per_s\": %.1f}\n",
        shape.name.c_str(), bytes / (1 << 20), static_cast<long>(c.m), c.threads,
        c.engine == Engine::gemv ? "kiln gemv" : "oneDNN sgemm", ms, c.ms.front(), flops / (ms * 1e6),
        bytes / (ms * 1e6));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<ModelShape> known = {{"kjv-7m", 6, 256, 768, 4096, true},
                                         {"gpt2-124m", 12, 768, 3072, 50257, false},
                                         {"kjv-124m-mtp", 12, 768, 2048, 4096, true}};
  const int reps = argc > 1 ? std::stoi(argv[1]) : 20;
  std::vector<std::string> names(argv + std::min(argc, 2), argv + argc);
  if (names.empty()) names = {"kjv-7m", "gpt2-124m"};
  for (const std::string& name : names) {
    const auto found = std::find_if(known.begin(), known.end(), [&](const ModelShape& s) { return s.name == name; });
    if (found == known.end()) {
      std::fprintf(stderr, "decode_gemm_bench: unknown shape %s (kjv-7m, gpt2-124m, kjv-124m-mtp)\n", name.c_str());
      return 1;
    }
    run_shape(*found, reps);
  }
}
