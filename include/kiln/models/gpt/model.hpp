#pragma once
// A decoder-only language model (DeepSeek-LLM/LLaMA or GPT-2 block, by
// config). Parameters live in one name → tensor map with Hugging Face names
// ("model.layers.0.self_attn.q_proj.weight", "transformer.h.0.attn.c_attn.weight"),
// so a checkpoint is recognisable; the forward pass is written out plainly,
// op by op, as in llm.c.
#include <map>
#include <string>
#include <vector>

#include "kiln/autograd/ops/loss.hpp"
#include "kiln/models/gpt/config.hpp"
#include "kiln/models/gpt/moe.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

// One batch of token ids. Either dense rows [B, T] (each row one causal
// sequence, positions 0..T-1), or a packed stream [1, N] with cu_seqlens
// (i32 [n+1]) marking documents that never attend to each other and
// positions restarting at 0 in each.
struct DecoderBatch {
  Tensor tokens;      // i64 [B, T]
  Tensor targets;     // i64 [B, T], −100 = no loss at this position
  Tensor positions;   // i64 [B, T] (M-RoPE: [3, B, T]); undefined = 0..T−1 per row
  Tensor cu_seqlens;  // i32 [n+1]; undefined = rows are the sequences
  // f32 [B, T, d_model] used instead of the token embeddings (a
  // vision-language model scatters image features into them); `tokens`
  // still gives the shape.
  Tensor input_embeddings;
};

struct DecoderOptions {
  bool gradient_checkpointing = false;  // recompute each block in backward
  // Divide the summed loss by this many tokens instead of the batch's own
  // count: with gradient accumulation, every micro-batch divides by the
  // token count of the whole optimizer step.
  int64_t loss_normalizer = 0;
  // Weight λ of the multi-token-prediction loss (mean over the D depths).
  double mtp_weight = 0.3;
};

// The terms of the training loss, for logging (the total carries the graph).
struct LossTerms {
  Tensor total;        // main + mtp_weight · mean MTP + balance
  double main = 0;     // next-token cross-entropy
  double mtp = 0;      // mean over depths of the MTP cross-entropies (0 without MTP)
  double balance = 0;  // sum over MoE layers of the sequence-wise balance loss
};

// Per layer cached keys and values for incremental decoding, [capacity,
// H_kv, D_k] and [capacity, H_kv, D_v]. Absorbed MLA caches the normalised
// latent ĉ [capacity, 1, d_c] as "keys" and the rotated k^R [capacity, 1,
// d_rope] as "values". Rolling back = lowering `length`.
struct KvCache {
  std::vector<Tensor> keys, values;
  int64_t length = 0;
  int64_t first_layer = 0;  // n_layer for the MTP module's own cache
  int64_t rope_delta = 0;   // M-RoPE: position of token i after the prompt is i + rope_delta (t = h = w)
  bool mla_absorbed = false;
  int64_t bytes_per_token() const;
  // Errors (naming `caller`) unless `tokens` is [T] and T more fit.
  void check_room(const Tensor& tokens, const char* caller) const;
  // The positions of the next `count` tokens, [1, count].
  Tensor next_positions(int64_t count) const;
};

// Routed assignments per expert, per MoE layer (main layers then MTP layers),
// counted over the forward passes since the last take_expert_loads().
using ExpertLoads = std::map<int64_t, std::vector<int64_t>>;

// "model.layers.3.mlp.experts.7.up_proj.weight" and the like: owned by one rank under expert parallelism.
bool is_routed_expert_parameter(const std::string& name);

class GptModel {
 public:
  GptModel(GptConfig config, uint64_t seed);
  // A model holding `weights` (every parameter, checked as load_parameters
  // checks them), without first drawing the random values they would
  // replace: loading a checkpoint to generate.
  static GptModel with_weights(GptConfig config, const std::map<std::string, Tensor>& weights);

  const GptConfig& config() const { return config_; }
  std::map<std::string, Tensor>& parameters() { return parameters_; }
  const std::map<std::string, Tensor>& parameters() const { return parameters_; }
  // Replaces every parameter from `weights`; missing, unexpected or
  // mis-shaped names are one error naming the tensor.
  void load_parameters(const std::map<std::string, Tensor>& weights);

  Tensor logits(const DecoderBatch& batch, const DecoderOptions& options = {}) const;  // [B, T, V]
  // Mean cross-entropy over positions whose target is not −100, plus the
  // MTP and balance terms when the config has them.
  Tensor loss(const DecoderBatch& batch, const DecoderOptions& options = {}) const;
  LossTerms loss_terms(const DecoderBatch& batch, const DecoderOptions& options = {}) const;
  // Sum of per-token losses and the number of counted tokens (no graph).
  std::pair<double, int64_t> loss_sum(const DecoderBatch& batch) const;

  // Token embeddings [.., d_model] of ids (the first step of the forward pass).
  Tensor embed(const Tensor& ids) const;

  KvCache new_cache(int64_t capacity, bool mla_absorbed = false) const;
  // Logits [T_new, V] for `tokens` (i64 [T_new]) appended after the cache;
  // `hidden`, when given, receives the last layer's residual stream [T_new, d].
  Tensor decode(const Tensor& tokens, KvCache& cache, Tensor* hidden = nullptr) const;
  // As decode, from input embeddings [1, T_new, d] with explicit positions
  // ([1, T_new], or [3, 1, T_new] with M-RoPE): a prompt whose image
  // placeholders already hold image features.
  Tensor decode_inputs(const Tensor& embeddings, const Tensor& positions, KvCache& cache,
                       Tensor* hidden = nullptr) const;

  // The first MTP module at inference (speculative drafting): its own cache,
  // fed pairs (main hidden h_{p−1}, token x_p); logits [T_new, V] predict x_{p+1}.
  KvCache new_mtp_cache(int64_t capacity, bool mla_absorbed = false) const;
  Tensor mtp_decode(const Tensor& hidden, const Tensor& tokens, KvCache& cache) const;

  // Auxiliary-loss-free balancing: loads counted in forward passes that
  // record gradients (each once, also under gradient checkpointing).
  ExpertLoads take_expert_loads() const;
  // b_i += γ·sign(mean load − load_i) per MoE layer; returns max/mean load per layer.
  std::map<int64_t, double> update_router_bias(const ExpertLoads& loads);

  // Keeps only this rank's routed experts and runs MoE layers across ranks.
  void enable_expert_parallel(std::shared_ptr<ExpertExchange> exchange);
  bool expert_parallel() const { return expert_exchange_ != nullptr; }

 private:
  enum class Init { random, unset };
  GptModel(GptConfig config, uint64_t seed, Init init);
  const Tensor& param(const std::string& name) const;
  std::string layer_prefix(int64_t layer) const;
  void add_block_parameters(int64_t layer, uint64_t seed, uint64_t& stream);
  // The residual stream after the last layer (before the final norm).
  Tensor trunk(const DecoderBatch& batch, const DecoderOptions& options, Tensor& balance) const;
  Tensor run_block(int64_t layer, const Tensor& x, const Tensor& positions, const Tensor& cu_seqlens,
                   const DecoderOptions& options, Tensor& balance) const;
  Tensor block(int64_t layer, const Tensor& x, const Tensor& positions, const Tensor& cu_seqlens, Tensor& balance) const;
  Tensor projection(const std::string& prefix, const Tensor& h) const;  // q/k/v, with Qwen2's bias when configured
  Tensor rotate(const Tensor& x, const Tensor& positions) const;         // RoPE or M-RoPE by config
  Tensor attention(int64_t layer, const Tensor& h, const Tensor& positions, const Tensor& cu_seqlens) const;
  Tensor mla_attention(int64_t layer, const Tensor& h, const Tensor& positions, const Tensor& cu_seqlens) const;
  Tensor feed_forward(int64_t layer, const Tensor& h, Tensor& balance) const;
  Tensor moe_feed_forward(int64_t layer, const Tensor& h, Tensor& balance) const;
  Tensor mtp_loss(const DecoderBatch& batch, const DecoderOptions& options, const Tensor& main_hidden,
                  Tensor& balance, double& mean_loss) const;
  Tensor decode_block(int64_t layer, const Tensor& x, const Tensor& positions, KvCache& cache) const;
  Tensor decode_attention(int64_t layer, const Tensor& h, const Tensor& positions, KvCache& cache) const;
  Tensor decode_mla_attention(int64_t layer, const Tensor& h, const Tensor& positions, KvCache& cache) const;
  Tensor final_norm(const Tensor& x) const;
  Tensor norm(const std::string& prefix, const Tensor& x) const;
  Tensor head(const Tensor& hidden) const;
  // Mean cross-entropy of head(hidden) ([B, T, d]) against targets [B, T],
  // chunk by chunk without the [B·T, V] logits (ops::linear_cross_entropy).
  Tensor head_loss(const Tensor& hidden, const Tensor& targets, const ops::CrossEntropyOptions& options) const;
  const std::string& head_weight_name() const;
  void add_parameter(const std::string& name, const Shape& shape, double std, uint64_t seed, uint64_t& stream);

  GptConfig config_;
  Init init_;  // what add_parameter fills a new parameter with
  std::map<std::string, Tensor> parameters_;
  mutable ExpertLoads expert_loads_;
  std::shared_ptr<ExpertExchange> expert_exchange_;
};

}  // namespace kiln::models
