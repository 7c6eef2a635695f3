// Training throughput of a decoder LM: tokens/s over timed AdamW steps
// (forward, backward, clipping, update) on random tokens, and peak resident
// memory. bench/torch_lm.py runs the same model and batch in PyTorch;
// bench/lm_compare.sh prints both.
//
//   lm_train_bench kjv|gpt2 [steps] [--bf16] [--checkpointing]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/precision.hpp"
#include "kiln/base/memory.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/models/gpt/model.hpp"
#include "kiln/optim/optimizer.hpp"

using namespace kiln;

int main(int argc, char** argv) {
  keep_freed_memory();
  const std::string which = argc > 1 ? argv[1] : "kjv";
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
  }
  models::GptModel model(c, 1);
  optim::AdamW adamw(model.parameters(), {});
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
  std::printf("{\"model\": \"%s\", \"params\": %lld, \"batch\": %lld, \"context\": %lld, \"step_ms\": %.1f, "
              "\"tokens_per_s\": %.0f, \"peak_rss_mib\": %.0f}\n",
              which.c_str(), static_cast<long long>(c.parameter_count()), static_cast<long long>(batch),
              static_cast<long long>(context), median * 1e3, static_cast<double>(batch * context) / median,
              static_cast<double>(usage.ru_maxrss) / 1024.0);
}
