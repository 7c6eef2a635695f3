// The linear layers of one decoding step of a GPT-2-sized model (12 × 768,
// a 4,096-token head; weights far beyond the caches), for one token (plain
// greedy decoding) and for two (a speculative verification), through
// kiln's gemm (oneDNN's sgemm). Memory-bound, the two-token pass would cost
// what the one-token pass costs; docs/deepseek.md has what it costs here.
// Each repetition runs both forms back to back over all 12 layers' weights,
// so a busy machine slows them alike; prints medians in ms per step.
//
//   decode_gemm_bench [repetitions]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "kiln/kernels/cpu/gemm.hpp"

namespace {

struct Layer {
  int64_t n, k;  // out × in
  std::vector<float> w;
};

double time_step(std::vector<Layer>& layers, const std::vector<float>& x, std::vector<float>& y, int64_t m) {
  const auto t0 = std::chrono::steady_clock::now();
  for (Layer& l : layers)
    kiln::cpu::gemm({false, true, m, l.n, l.k, l.k, l.k, l.n}, 1.0f, x.data(), l.w.data(), 0.0f, y.data());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::stoi(argv[1]) : 20;
  const int64_t d = 768, ffn = 2048, vocab = 4096;
  std::vector<Layer> layers;
  for (int l = 0; l < 12; ++l) {
    for (const auto& [n, k] : std::vector<std::pair<int64_t, int64_t>>{{3 * d, d}, {d, d}, {ffn, d}, {ffn, d}, {d, ffn}})
      layers.push_back({n, k, std::vector<float>(static_cast<size_t>(n * k), 0.001f * static_cast<float>(l + 1))});
  }
  layers.push_back({vocab, d, std::vector<float>(static_cast<size_t>(vocab * d), 0.002f)});
  int64_t weights = 0;
  for (const Layer& l : layers) weights += l.n * l.k;
  std::vector<float> x(4 * ffn, 0.5f), y(4 * vocab);
  struct Form {
    const char* name;
    int64_t m;
    std::vector<double> ms;
  };
  std::vector<Form> forms = {{"1 token (greedy step)", 1, {}}, {"2 tokens (speculative verification)", 2, {}}};
  for (Form& f : forms) time_step(layers, x, y, f.m);  // warm-up
  for (int r = 0; r < reps; ++r)
    for (Form& f : forms) f.ms.push_back(time_step(layers, x, y, f.m));
  for (Form& f : forms) {
    std::sort(f.ms.begin(), f.ms.end());
    const double median = f.ms[f.ms.size() / 2];
    std::printf("{\"form\": \"%s\", \"weights_mib\": %.0f, \"ms_per_step\": %.2f, \"weight_gb_per_s\": %.1f}\n", f.name,
                static_cast<double>(weights) * 4 / (1 << 20), median,
                static_cast<double>(weights) * 4 / (median * 1e-3) / 1e9);
  }
}
