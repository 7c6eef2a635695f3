// Training throughput of a decoder LM: tokens/s over timed AdamW steps
// (forward, backward, clipping, update) on random tokens, and peak resident
// memory. bench/torch_lm.py runs the same model and batch in PyTorch;
// bench/lm_compare.sh prints both.
//
//   lm_train_bench kjv|kjv-moe|kjv-mla|kjv-deepseek|gpt2 [steps] [--bf16] [--checkpointing]
//   lm_train_bench kv-cache     (KV-cache bytes per token: MHA, GQA, MLA)
//   lm_train_bench head [reps]  (GPT-2's output head and loss, forward and backward:
//                                linear + cross_entropy against the chunked
//                                linear_cross_entropy, alternated in one process)
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "kiln/kernels/cpu/bf16_gemm_choice.hpp"
#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/precision.hpp"
#include "kiln/base/memory.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/models/gpt/model.hpp"
#include "kiln/optim/optimizer.hpp"
#include "kiln/tensor/storage.hpp"

using namespace kiln;

namespace {

// The DeepSeek switches of configs/kjv-moe.toml and configs/kjv-deepseek.toml.
void add_moe(models::GptConfig& c) {
  c.moe.n_routed_experts = 8;
  c.moe.n_shared_experts = 1;
  c.moe.n_activated_experts = 2;
  c.moe.moe_inter_dim = 256;
  c.moe.n_expert_groups = 4;
  c.moe.n_limited_groups = 2;
  c.moe.first_k_dense = 1;
  c.moe.route_scale = 2.5;
}

void add_mla(models::GptConfig& c) {
  c.attention = models::AttentionKind::mla;
  c.mla = {.q_lora_rank = 192, .kv_lora_rank = 128, .qk_nope_head_dim = 64, .qk_rope_head_dim = 32, .v_head_dim = 64};
}

// Bytes per token of the caches kiln allocates for generation (f32), and in
// bf16 for a model of DeepSeek-V3's size.
void print_kv_cache_table() {
  models::GptConfig base;
  base.vocab_size = 4096;
  base.n_layer = 6;
  base.d_model = 256;
  base.n_head = base.n_kv_head = 4;
  base.max_seq_len = 128;
  const auto row = [](const char* name, const models::GptConfig& c, bool absorbed) {
    const models::GptModel model(c, 1);
    const models::KvCache cache = model.new_cache(16, absorbed);
    std::printf("{\"attention\": \"%s\", \"values_per_token_per_layer\": %lld, \"bytes_per_token_f32\": %lld}\n",
                name, static_cast<long long>(c.kv_cache_values_per_token(absorbed)),
                static_cast<long long>(cache.bytes_per_token()));
  };
  row("MHA (4 heads of 64)", base, false);
  models::GptConfig gqa = base;
  gqa.n_kv_head = 1;
  row("GQA / MQA (1 kv head)", gqa, false);
  models::GptConfig mla = base;
  add_mla(mla);
  row("MLA naive (per-head K 96, V 64)", mla, false);
  row("MLA absorbed (d_c 128 + d_rope 32)", mla, true);
  models::GptConfig v3;
  v3.n_head = v3.n_kv_head = 128;
  v3.d_model = 7168;
  v3.attention = models::AttentionKind::mla;
  v3.mla = {.q_lora_rank = 1536, .kv_lora_rank = 512, .qk_nope_head_dim = 128, .qk_rope_head_dim = 64, .v_head_dim = 128};
  std::printf("{\"attention\": \"DeepSeek-V3 (61 layers, bf16)\", \"mla_bytes_per_token\": %lld, "
              "\"naive_bytes_per_token\": %lld}\n",
              static_cast<long long>(v3.kv_cache_values_per_token(true) * 2 * 61),
              static_cast<long long>(v3.kv_cache_values_per_token(false) * 2 * 61));
}

// GPT-2 124M's head at B 4 × T 256: [1024, 768] hidden states, the tied
// [50257, 768] embedding. Each repetition times both forms back to back, so
// a busy machine slows both alike; prints the medians and the tensor pool's
// peak above what was live before.
void print_head_table(int reps) {
  const int64_t n = 1024, d = 768, v = 50257;
  Tensor h = Tensor::empty({n, d}), w = Tensor::empty({v, d});
  for (int64_t i = 0; i < n * d; ++i) h.data<float>()[i] = static_cast<float>(philox_uniform({6, 0}, i) - 0.5);
  for (int64_t i = 0; i < v * d; ++i) w.data<float>()[i] = static_cast<float>(0.04 * (philox_uniform({6, 1}, i) - 0.5));
  h.set_requires_grad(true);
  w.set_requires_grad(true);
  Tensor targets = Tensor::empty({n}, DType::i64);
  for (int64_t i = 0; i < n; ++i) targets.data<int64_t>()[i] = philox_block({6, 2}, static_cast<uint64_t>(i))[0] % v;
  const auto run = [&](int64_t chunk) {
    h.zero_grad();
    w.zero_grad();
    release_cached_memory();
    reset_peak_memory();
    const int64_t before = memory_stats().live_bytes;
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor loss = chunk < 0 ? ops::cross_entropy(ops::linear(h, w), targets)
                                  : ops::linear_cross_entropy(h, w, targets, {}, chunk);
    backward(loss);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::pair{s, static_cast<double>(memory_stats().peak_bytes - before) / (1 << 20)};
  };
  const std::vector<int64_t> forms = {-1, 128, 256, 512, 1024};
  std::vector<std::vector<double>> times(forms.size());
  std::vector<double> peaks(forms.size());
  for (size_t f = 0; f < forms.size(); ++f) run(forms[f]);  // warm-up
  for (int r = 0; r < reps; ++r)
    for (size_t f = 0; f < forms.size(); ++f) {
      const auto result = run(forms[f]);
      times[f].push_back(result.first);
      peaks[f] = result.second;
    }
  for (size_t f = 0; f < forms.size(); ++f) {
    std::sort(times[f].begin(), times[f].end());
    std::printf("{\"head\": \"%s\", \"chunk_rows\": %lld, \"forward_backward_ms\": %.1f, \"peak_extra_mib\": %.0f}\n",
                forms[f] < 0 ? "linear + cross_entropy" : "linear_cross_entropy", static_cast<long long>(forms[f]),
                times[f][times[f].size() / 2] * 1e3, peaks[f]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  const std::string which = argc > 1 ? argv[1] : "kjv";
  if (which == "kv-cache") {
    print_kv_cache_table();
    return 0;
  }
  if (which == "head") {
    print_head_table(argc > 2 ? std::stoi(argv[2]) : 5);
    return 0;
  }
  const int steps = argc > 2 ? std::stoi(argv[2]) : 10;
  bool bf16_mode = false, checkpointing = false;
  for (int i = 3; i < argc; ++i) {
    bf16_mode |= std::string(argv[i]) == "--bf16";
    checkpointing |= std::string(argv[i]) == "--checkpointing";
  }
  models::GptConfig c;
  int64_t batch = 16, context = 128;
  if (which == "gpt2") {
    c.arch = models::DecoderArch::gpt2;
    c.vocab_size = 50257;
    c.n_layer = 12;
    c.d_model = 768;
    c.n_head = c.n_kv_head = 12;
    c.max_seq_len = 1024;
    c.tie_embeddings = true;
    c.norm_eps = 1e-5;
    c.init_std = 0.02;
    batch = 4;
    context = 256;
  } else {
    c.vocab_size = 4096;
    c.n_layer = 6;
    c.d_model = 256;
    c.n_head = c.n_kv_head = 4;
    c.max_seq_len = 128;
    c.init_std = 0.02;
    if (which == "kjv-moe" || which == "kjv-deepseek") add_moe(c);
    if (which == "kjv-mla" || which == "kjv-deepseek") add_mla(c);
    if (which == "kjv-deepseek") c.mtp_depth = 1;
  }
  models::GptModel model(c, 1);
  std::map<std::string, Tensor> trained;
  for (const auto& [name, p] : model.parameters())
    if (p.requires_grad()) trained.emplace(name, p);
  optim::AdamW adamw(trained, {});
  models::DecoderBatch b;
  b.tokens = Tensor::empty({batch, context}, DType::i64);
  b.targets = Tensor::empty({batch, context}, DType::i64);
  for (int64_t i = 0; i < batch * context; ++i) {
    b.tokens.data<int64_t>()[i] = philox_block({5, 0}, static_cast<uint64_t>(i))[0] % c.vocab_size;
    b.targets.data<int64_t>()[i] = philox_block({5, 1}, static_cast<uint64_t>(i))[0] % c.vocab_size;
  }
  PrecisionGuard precision(bf16_mode ? Precision::bf16 : Precision::f32);
  models::DecoderOptions options;
  options.gradient_checkpointing = checkpointing;
  auto step = [&] {
    adamw.zero_grad();
    const Tensor loss = model.loss(b, options);
    backward(loss);
    optim::clip_grad_norm(model.parameters(), 1.0);
    adamw.step();
    model.update_router_bias(model.take_expert_loads());
    return loss.item();
  };
  step();  // warm-up: first-touch of every buffer, oneDNN kernel generation
  std::vector<double> times;
  for (int s = 0; s < steps; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  // The tensor pool's own figures (this thread's): the most bytes tensors held
  // at once, and the free blocks it keeps for reuse at the end.
  const MemoryStats pool = memory_stats();
  std::printf("{\"model\": \"%s\", \"params\": %lld, \"batch\": %lld, \"context\": %lld, \"step_ms\": %.1f, "
              "\"tokens_per_s\": %.0f, \"peak_rss_mib\": %.0f, \"tensor_peak_mib\": %.0f, \"pool_cached_mib\": %.0f, "
              "\"matmul\": \"%s\"}\n",
              which.c_str(), static_cast<long long>(c.parameter_count()), static_cast<long long>(batch),
              static_cast<long long>(context), median * 1e3, static_cast<double>(batch * context) / median,
              static_cast<double>(usage.ru_maxrss) / 1024.0, static_cast<double>(pool.peak_bytes) / (1 << 20),
              static_cast<double>(pool.cached_bytes) / (1 << 20),
              !bf16_mode ? "f32" : cpu::bf16_gemm_choice().native ? "bf16 GEMM" : "f32 (bf16 GEMM slower here)");
}
