// BERT masked-LM pre-training throughput (configs/kjv-bert.toml's model:
// 4 layers of width 128, vocabulary 4,000, 64 × 64 tokens, 15% masked, no
// dropout so both sides do the same work): tokens/s over timed AdamW steps.
// bench/torch_bert.py runs the same model in PyTorch; bench/vision_compare.sh prints both.
//
//   bert_train_bench [steps]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "kiln/autograd/engine.hpp"
#include "kiln/base/memory.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/models/bert/bert.hpp"
#include "kiln/optim/optimizer.hpp"

using namespace kiln;

int main(int argc, char** argv) {
  keep_freed_memory();
  const int steps = argc > 1 ? std::stoi(argv[1]) : 10;
  models::BertConfig c;
  c.vocab_size = 4000;
  c.d_model = 128;
  c.n_layer = 4;
  c.n_head = 4;
  c.ffn_dim = 512;
  c.max_positions = 128;
  c.dropout = 0;
  models::BertModel model(c, 1);
  optim::AdamW adamw(model.parameters(), {});
  const int64_t batch = 64, length = 64;
  Tensor tokens = Tensor::empty({batch, length}, DType::i64);
  Tensor labels = Tensor::full({batch, length}, -100.0, DType::i64);
  for (int64_t i = 0; i < batch * length; ++i) {
    const auto bits = philox_block({9, 0}, static_cast<uint64_t>(i));
    tokens.data<int64_t>()[i] = 5 + bits[0] % 3995;
    if (bits[1] % 100 < 15) labels.data<int64_t>()[i] = tokens.data<int64_t>()[i];
  }
  const models::BertBatch b{tokens, Tensor(), Tensor()};
  const auto step = [&] {
    adamw.zero_grad();
    backward(model.mlm_loss(b, labels, false));
    adamw.step();
  };
  step();
  std::vector<double> times;
  for (int s = 0; s < steps; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  std::printf("{\"model\": \"bert\", \"impl\": \"kiln\", \"step_ms\": %.1f, \"tokens_per_s\": %.0f}\n", median * 1e3,
              static_cast<double>(batch * length) / median);
}
