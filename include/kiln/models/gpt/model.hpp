#pragma once
// A decoder-only language model (DeepSeek-LLM/LLaMA or GPT-2 block, by
// config). Parameters live in one name → tensor map with Hugging Face names
// ("model.layers.0.self_attn.q_proj.weight", "transformer.h.0.attn.c_attn.weight"),
// so a checkpoint is recognisable; the forward pass is written out plainly,
// op by op, as in llm.c.
#include <map>
#include <string>
#include <vector>

#include "kiln/models/gpt/config.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

// One batch of token ids. Either dense rows [B, T] (each row one causal
// sequence, positions 0..T-1), or a packed stream [1, N] with cu_seqlens
// (i32 [n+1]) marking documents that never attend to each other and
// positions restarting at 0 in each.
struct DecoderBatch {
  Tensor tokens;      // i64 [B, T]
  Tensor targets;     // i64 [B, T], −100 = no loss at this position
  Tensor positions;   // i64 [B, T]; undefined = 0..T−1 per row
  Tensor cu_seqlens;  // i32 [n+1]; undefined = rows are the sequences
};

struct DecoderOptions {
  bool gradient_checkpointing = false;  // recompute each block in backward
  // Divide the summed loss by this many tokens instead of the batch's own
  // count: with gradient accumulation, every micro-batch divides by the
  // token count of the whole optimizer step.
  int64_t loss_normalizer = 0;
};

// Per layer cached keys and values for incremental decoding: [1, capacity, H_kv, D].
struct KvCache {
  std::vector<Tensor> keys, values;
  int64_t length = 0;
};

class GptModel {
 public:
  GptModel(GptConfig config, uint64_t seed);

  const GptConfig& config() const { return config_; }
  std::map<std::string, Tensor>& parameters() { return parameters_; }
  const std::map<std::string, Tensor>& parameters() const { return parameters_; }
  // Replaces every parameter from `weights`; missing, unexpected or
  // mis-shaped names are one error naming the tensor.
  void load_parameters(const std::map<std::string, Tensor>& weights);

  Tensor logits(const DecoderBatch& batch, const DecoderOptions& options = {}) const;  // [B, T, V]
  // Mean cross-entropy over positions whose target is not −100.
  Tensor loss(const DecoderBatch& batch, const DecoderOptions& options = {}) const;
  // Sum of per-token losses and the number of counted tokens (no graph).
  std::pair<double, int64_t> loss_sum(const DecoderBatch& batch) const;

  KvCache new_cache(int64_t capacity) const;
  // Logits [T_new, V] for `tokens` (i64 [T_new]) appended after the cache.
  Tensor decode(const Tensor& tokens, KvCache& cache) const;

 private:
  const Tensor& param(const std::string& name) const;
  std::string layer_prefix(int64_t layer) const;
  Tensor hidden_states(const DecoderBatch& batch, const DecoderOptions& options) const;
  Tensor block(int64_t layer, const Tensor& x, const Tensor& positions, const Tensor& cu_seqlens) const;
  Tensor attention(int64_t layer, const Tensor& h, const Tensor& positions, const Tensor& cu_seqlens) const;
  Tensor feed_forward(int64_t layer, const Tensor& h) const;
  Tensor norm(const std::string& prefix, const Tensor& x) const;
  Tensor head(const Tensor& hidden) const;
  void add_parameter(const std::string& name, const Shape& shape, double std, uint64_t seed, uint64_t& stream);

  GptConfig config_;
  std::map<std::string, Tensor> parameters_;
};

}  // namespace kiln::models
