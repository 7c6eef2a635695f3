// One DeepSeekMoE layer, forward + backward, on random activations: kiln's
// dispatch (tokens sorted by expert, one set of GEMMs per expert) against
// bench/torch_moe.py, the same layer in PyTorch written the usual naive way
// (a loop over experts gathering their tokens with torch.where). Prints one
// JSON line: median time per pass and tokens/s.
//
//   moe_layer_bench [tokens] [d_model] [experts] [active] [expert_width] [shared] [reps]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/base/memory.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/models/gpt/moe.hpp"

using namespace kiln;

namespace {

Tensor random_tensor(const Shape& shape, double std, uint64_t stream, bool grad) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] = static_cast<float>(std) * philox_normal({3, stream}, static_cast<uint64_t>(i));
  if (grad) t.set_requires_grad(true);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  const auto arg = [&](int i, int64_t fallback) { return argc > i ? std::stoll(argv[i]) : fallback; };
  const int64_t tokens = arg(1, 2048), d = arg(2, 256), experts = arg(3, 8), active = arg(4, 2), width = arg(5, 256),
                shared = arg(6, 1), reps = arg(7, 10);
  models::MoeConfig m;
  m.n_routed_experts = experts;
  m.n_activated_experts = active;
  m.n_shared_experts = shared;
  m.moe_inter_dim = width;
  m.route_scale = 2.5;
  m.seq_aux_alpha = 0;
  std::map<std::string, Tensor> params;
  uint64_t stream = 10;
  params["gate.weight"] = random_tensor({experts, d}, 0.02, stream++, true);
  params["gate.e_score_correction_bias"] = Tensor::zeros({experts});
  const auto add_mlp = [&](const std::string& prefix, int64_t w) {
    params[prefix + "gate_proj.weight"] = random_tensor({w, d}, 0.02, stream++, true);
    params[prefix + "up_proj.weight"] = random_tensor({w, d}, 0.02, stream++, true);
    params[prefix + "down_proj.weight"] = random_tensor({d, w}, 0.02, stream++, true);
  };
  for (int64_t e = 0; e < experts; ++e) add_mlp("experts." + std::to_string(e) + ".", width);
  if (shared > 0) add_mlp("shared_experts.", shared * width);
  const Tensor x = random_tensor({1, tokens, d}, 1.0, 1, true);
  const auto pass = [&] {
    Tensor balance;
    const Tensor y = models::moe_layer(params, "", x, m, balance, nullptr);
    backward(ops::sum(y));
  };
  pass();
  std::vector<double> times;
  for (int64_t r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pass();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  std::printf("{\"impl\": \"kiln\", \"tokens\": %lld, \"d\": %lld, \"experts\": %lld, \"active\": %lld, \"width\": %lld, "
              "\"shared\": %lld, \"ms\": %.2f, \"tokens_per_s\": %.0f}\n",
              static_cast<long long>(tokens), static_cast<long long>(d), static_cast<long long>(experts),
              static_cast<long long>(active), static_cast<long long>(width), static_cast<long long>(shared),
              median * 1e3, static_cast<double>(tokens) / median);
}
