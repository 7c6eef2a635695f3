#include "kiln/models/gpt/model.hpp"

#include "kiln/models/gpt/moe.hpp"
#include "kiln/models/parameters.hpp"

#include <cmath>
#include <optional>

#include "kiln/autograd/checkpoint.hpp"
#include "kiln/base/memory.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/precision.hpp"
#include "kiln/autograd/ops/activation.hpp"
#include "kiln/autograd/ops/attention.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/embedding.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/autograd/ops/rope.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/kernels/cpu/decode_attention.hpp"
namespace kiln::models {

namespace {

Tensor normal_tensor(const Shape& shape, double std, uint64_t seed, uint64_t stream) {
  Tensor t = Tensor::empty(shape, DType::f32);
  float* p = t.data<float>();
  const PhiloxKey key{seed, stream};
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(std) * philox_normal(key, static_cast<uint64_t>(i));
  return t;
}

// 0..T−1 per row: [B, T], or [axes, B, T] with every axis equal (M-RoPE on text).
Tensor default_positions(const Tensor& tokens, int64_t axes) {
  const int64_t rows = tokens.size(0), length = tokens.size(1);
  Tensor positions = Tensor::empty(axes == 1 ? Shape{rows, length} : Shape{axes, rows, length}, DType::i64);
  int64_t* p = positions.data<int64_t>();
  for (int64_t a = 0; a < axes; ++a)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t t = 0; t < length; ++t) p[(a * rows + r) * length + t] = t;
  return positions;
}

}  // namespace

// Shared with the MLA decoder: attention of new queries q [T_new, H, D_k]
// (absolute positions start..start+T_new−1) over cached keys [.., H_kv, D_k]
// and values [.., H_kv, D_v]; row s sees keys 0..start+s.
Tensor cached_attention(const Tensor& q, const Tensor& keys, const Tensor& values, int64_t start, double scale);

GptModel::GptModel(GptConfig config, uint64_t seed) : GptModel(std::move(config), seed, Init::random) {}

GptModel GptModel::with_weights(GptConfig config, const std::map<std::string, Tensor>& weights) {
  GptModel model(std::move(config), 0, Init::unset);
  model.load_parameters(weights);  // replaces every parameter or fails
  return model;
}

GptModel::GptModel(GptConfig config, uint64_t seed, Init init) : config_(std::move(config)), init_(init) {
  config_.validate();
  const int64_t bytes = config_.parameter_count() * 4;
  KILN_CHECK(bytes <= physical_memory_bytes(), "the model's {} parameters need {:.1f} GiB in f32; this machine has {:.1f} GiB",
             config_.parameter_count(), static_cast<double>(bytes) / (1 << 30),
             static_cast<double>(physical_memory_bytes()) / (1 << 30));
  const GptConfig& c = config_;
  const int64_t d = c.d_model, f = c.ffn_width();
  const double std = c.init_std;
  const double out_std = c.scaled_residual_init ? std / std::sqrt(2.0 * static_cast<double>(c.n_layer)) : std;
  uint64_t stream = 0;
  if (c.arch == DecoderArch::llama) {
    add_parameter("model.embed_tokens.weight", {c.vocab_size, d}, std, seed, stream);
    for (int64_t l = 0; l < c.n_layer; ++l) add_block_parameters(l, seed, stream);
    add_parameter("model.norm.weight", {d}, 0, seed, stream);
    if (!c.tie_embeddings) add_parameter("lm_head.weight", {c.vocab_size, d}, std, seed, stream);
    for (int64_t k = 0; k < c.mtp_depth; ++k) {
      const std::string p = layer_prefix(c.n_layer + k);
      add_parameter(p + "enorm.weight", {d}, 0, seed, stream);
      add_parameter(p + "hnorm.weight", {d}, 0, seed, stream);
      add_parameter(p + "eh_proj.weight", {d, 2 * d}, std, seed, stream);
      add_block_parameters(c.n_layer + k, seed, stream);
      add_parameter(p + "shared_head.norm.weight", {d}, 0, seed, stream);
    }
  } else {
    add_parameter("transformer.wte.weight", {c.vocab_size, d}, std, seed, stream);
    add_parameter("transformer.wpe.weight", {c.max_seq_len, d}, std, seed, stream);
    for (int64_t l = 0; l < c.n_layer; ++l) {
      const std::string p = layer_prefix(l);
      add_parameter(p + "ln_1.weight", {d}, 0, seed, stream);
      add_parameter(p + "ln_1.bias", {d}, -1, seed, stream);
      add_parameter(p + "attn.c_attn.weight", {3 * d, d}, std, seed, stream);
      add_parameter(p + "attn.c_attn.bias", {3 * d}, -1, seed, stream);
      add_parameter(p + "attn.c_proj.weight", {d, d}, out_std, seed, stream);
      add_parameter(p + "attn.c_proj.bias", {d}, -1, seed, stream);
      add_parameter(p + "ln_2.weight", {d}, 0, seed, stream);
      add_parameter(p + "ln_2.bias", {d}, -1, seed, stream);
      add_parameter(p + "mlp.c_fc.weight", {f, d}, std, seed, stream);
      add_parameter(p + "mlp.c_fc.bias", {f}, -1, seed, stream);
      add_parameter(p + "mlp.c_proj.weight", {d, f}, out_std, seed, stream);
      add_parameter(p + "mlp.c_proj.bias", {d}, -1, seed, stream);
    }
    add_parameter("transformer.ln_f.weight", {d}, 0, seed, stream);
    add_parameter("transformer.ln_f.bias", {d}, -1, seed, stream);
    if (!c.tie_embeddings) add_parameter("lm_head.weight", {c.vocab_size, d}, std, seed, stream);
  }
}

// One LLaMA/DeepSeek block: MHA/GQA or MLA, then a SwiGLU FFN or an MoE.
void GptModel::add_block_parameters(int64_t layer, uint64_t seed, uint64_t& stream) {
  const GptConfig& c = config_;
  const int64_t d = c.d_model, kv = c.n_kv_head * c.head_dim(), f = c.ffn_width();
  const double std = c.init_std;
  const double out_std = c.scaled_residual_init ? std / std::sqrt(2.0 * static_cast<double>(c.n_layer)) : std;
  const std::string p = layer_prefix(layer);
  add_parameter(p + "input_layernorm.weight", {d}, 0, seed, stream);
  if (c.attention == AttentionKind::mla) {
    const MlaConfig& m = c.mla;
    const int64_t q_width = c.n_head * m.qk_head_dim();
    if (m.q_lora_rank > 0) {
      add_parameter(p + "self_attn.q_a_proj.weight", {m.q_lora_rank, d}, std, seed, stream);
      add_parameter(p + "self_attn.q_a_layernorm.weight", {m.q_lora_rank}, 0, seed, stream);
      add_parameter(p + "self_attn.q_b_proj.weight", {q_width, m.q_lora_rank}, std, seed, stream);
    } else {
      add_parameter(p + "self_attn.q_proj.weight", {q_width, d}, std, seed, stream);
    }
    add_parameter(p + "self_attn.kv_a_proj_with_mqa.weight", {m.kv_lora_rank + m.qk_rope_head_dim, d}, std, seed,
                  stream);
    add_parameter(p + "self_attn.kv_a_layernorm.weight", {m.kv_lora_rank}, 0, seed, stream);
    add_parameter(p + "self_attn.kv_b_proj.weight", {c.n_head * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank},
                  std, seed, stream);
    add_parameter(p + "self_attn.o_proj.weight", {d, c.n_head * m.v_head_dim}, out_std, seed, stream);
  } else {
    add_parameter(p + "self_attn.q_proj.weight", {d, d}, std, seed, stream);
    add_parameter(p + "self_attn.k_proj.weight", {kv, d}, std, seed, stream);
    add_parameter(p + "self_attn.v_proj.weight", {kv, d}, std, seed, stream);
    if (c.qkv_bias) {
      add_parameter(p + "self_attn.q_proj.bias", {d}, -1, seed, stream);
      add_parameter(p + "self_attn.k_proj.bias", {kv}, -1, seed, stream);
      add_parameter(p + "self_attn.v_proj.bias", {kv}, -1, seed, stream);
    }
    add_parameter(p + "self_attn.o_proj.weight", {d, d}, out_std, seed, stream);
  }
  add_parameter(p + "post_attention_layernorm.weight", {d}, 0, seed, stream);
  if (c.is_moe_layer(layer)) {
    const MoeConfig& m = c.moe;
    const int64_t e = c.expert_width();
    add_parameter(p + "mlp.gate.weight", {m.n_routed_experts, d}, std, seed, stream);
    add_parameter(p + "mlp.gate.e_score_correction_bias", {m.n_routed_experts}, -1, seed, stream);
    parameters_.at(p + "mlp.gate.e_score_correction_bias").set_requires_grad(false);  // moved by balancing, not by gradients
    for (int64_t i = 0; i < m.n_routed_experts; ++i) {
      const std::string x = fmt::format("{}mlp.experts.{}.", p, i);
      add_parameter(x + "gate_proj.weight", {e, d}, std, seed, stream);
      add_parameter(x + "up_proj.weight", {e, d}, std, seed, stream);
      add_parameter(x + "down_proj.weight", {d, e}, out_std, seed, stream);
    }
    if (m.n_shared_experts > 0) {
      const int64_t s = m.n_shared_experts * e;
      add_parameter(p + "mlp.shared_experts.gate_proj.weight", {s, d}, std, seed, stream);
      add_parameter(p + "mlp.shared_experts.up_proj.weight", {s, d}, std, seed, stream);
      add_parameter(p + "mlp.shared_experts.down_proj.weight", {d, s}, out_std, seed, stream);
    }
  } else {
    add_parameter(p + "mlp.gate_proj.weight", {f, d}, std, seed, stream);
    add_parameter(p + "mlp.up_proj.weight", {f, d}, std, seed, stream);
    add_parameter(p + "mlp.down_proj.weight", {d, f}, out_std, seed, stream);
  }
}

// std > 0: normal(0, std²); std == 0: ones (norm gains); std < 0: zeros (biases).
// Init::unset leaves the values to the weights about to replace them.
void GptModel::add_parameter(const std::string& name, const Shape& shape, double std, uint64_t seed,
                             uint64_t& stream) {
  Tensor t = init_ == Init::unset ? Tensor::empty(shape, DType::f32)
             : std > 0            ? normal_tensor(shape, std, seed, stream)
                                  : Tensor::full(shape, std == 0 ? 1.0 : 0.0);
  ++stream;
  t.set_requires_grad(true);
  parameters_.emplace(name, t);
}

void GptModel::load_parameters(const std::map<std::string, Tensor>& weights) {
  load_named_parameters(parameters_, weights, "a " + config_.arch_name() + " model");
}

const Tensor& GptModel::param(const std::string& name) const {
  return find_parameter(parameters_, name);
}

std::string GptModel::layer_prefix(int64_t layer) const {
  return config_.arch == DecoderArch::llama ? fmt::format("model.layers.{}.", layer)
                                            : fmt::format("transformer.h.{}.", layer);
}

Tensor GptModel::norm(const std::string& prefix, const Tensor& x) const {
  if (config_.arch == DecoderArch::llama) return ops::rms_norm(x, param(prefix + ".weight"), config_.norm_eps);
  return ops::layer_norm(x, param(prefix + ".weight"), param(prefix + ".bias"), config_.norm_eps);
}

Tensor GptModel::projection(const std::string& prefix, const Tensor& h) const {
  if (!config_.qkv_bias) return ops::linear(h, param(prefix + ".weight"));
  return ops::linear(h, param(prefix + ".weight"), param(prefix + ".bias"));
}

Tensor GptModel::rotate(const Tensor& x, const Tensor& positions) const {
  const GptConfig& c = config_;
  if (!c.mrope()) return ops::rope(x, positions, c.rope_theta, c.rope_interleaved);
  return ops::rope(x, positions, cpu::mrope_slots(c.head_dim(), c.rope_theta, c.mrope_section, c.mrope_interleaved));
}

Tensor GptModel::attention(int64_t layer, const Tensor& h, const Tensor& positions, const Tensor& cu_seqlens) const {
  const GptConfig& c = config_;
  if (c.attention == AttentionKind::mla) return mla_attention(layer, h, positions, cu_seqlens);
  const std::string p = layer_prefix(layer);
  const int64_t rows = h.size(0), length = h.size(1), dh = c.head_dim();
  ops::AttentionOptions options;
  options.causal = true;
  options.cu_seqlens = cu_seqlens;
  Tensor q, k, v, out;
  if (c.arch == DecoderArch::llama) {
    q = ops::reshape(projection(p + "self_attn.q_proj", h), {rows, length, c.n_head, dh});
    k = ops::reshape(projection(p + "self_attn.k_proj", h), {rows, length, c.n_kv_head, dh});
    v = ops::reshape(projection(p + "self_attn.v_proj", h), {rows, length, c.n_kv_head, dh});
    q = rotate(q, positions);
    k = rotate(k, positions);
    out = ops::attention(q, k, v, options);
    return ops::linear(ops::reshape(out, {rows, length, c.d_model}), param(p + "self_attn.o_proj.weight"));
  }
  const Tensor qkv = ops::linear(h, param(p + "attn.c_attn.weight"), param(p + "attn.c_attn.bias"));
  const std::vector<Tensor> parts = ops::split(qkv, {c.d_model, c.d_model, c.d_model}, -1);
  q = ops::reshape(ops::contiguous(parts[0]), {rows, length, c.n_head, dh});
  k = ops::reshape(ops::contiguous(parts[1]), {rows, length, c.n_head, dh});
  v = ops::reshape(ops::contiguous(parts[2]), {rows, length, c.n_head, dh});
  out = ops::attention(q, k, v, options);
  return ops::linear(ops::reshape(out, {rows, length, c.d_model}), param(p + "attn.c_proj.weight"),
                     param(p + "attn.c_proj.bias"));
}

Tensor GptModel::feed_forward(int64_t layer, const Tensor& h, Tensor& balance) const {
  const std::string p = layer_prefix(layer);
  if (config_.arch == DecoderArch::llama) {
    if (config_.is_moe_layer(layer)) return moe_feed_forward(layer, h, balance);
    return swiglu_mlp(parameters_, p + "mlp.", h);
  }
  const Tensor hidden = ops::gelu(ops::linear(h, param(p + "mlp.c_fc.weight"), param(p + "mlp.c_fc.bias")),
                                  ops::GeluApproximation::tanh);
  return ops::linear(hidden, param(p + "mlp.c_proj.weight"), param(p + "mlp.c_proj.bias"));
}

// `balance` gains this layer's sequence-wise balance loss (MoE layers only).
Tensor GptModel::block(int64_t layer, const Tensor& x, const Tensor& positions, const Tensor& cu_seqlens,
                       Tensor& balance) const {
  const std::string p = layer_prefix(layer);
  const bool llama = config_.arch == DecoderArch::llama;
  const Tensor h = ops::add(x, attention(layer, norm(p + (llama ? "input_layernorm" : "ln_1"), x), positions, cu_seqlens));
  return ops::add(h, feed_forward(layer, norm(p + (llama ? "post_attention_layernorm" : "ln_2"), h), balance));
}

Tensor GptModel::run_block(int64_t layer, const Tensor& x, const Tensor& positions, const Tensor& cu_seqlens,
                           const DecoderOptions& options, Tensor& balance) const {
  if (!options.gradient_checkpointing) return block(layer, x, positions, cu_seqlens, balance);
  const bool moe = config_.is_moe_layer(layer);
  const autograd::TensorList out = autograd::checkpoint(
      [this, layer, positions, cu_seqlens, moe](const autograd::TensorList& in) {
        Tensor layer_balance;
        Tensor y = block(layer, in[0], positions, cu_seqlens, layer_balance);
        if (!moe) return autograd::TensorList{y};
        if (!layer_balance.defined()) layer_balance = Tensor::zeros({});
        return autograd::TensorList{y, layer_balance};
      },
      {x});
  if (moe) balance = balance.defined() ? ops::add(balance, out[1]) : out[1];
  return out[0];
}

Tensor GptModel::embed(const Tensor& ids) const {
  return ops::embedding(param(config_.arch == DecoderArch::llama ? "model.embed_tokens.weight" : "transformer.wte.weight"),
                        ids);
}

Tensor GptModel::final_norm(const Tensor& x) const {
  return norm(config_.arch == DecoderArch::llama ? "model.norm" : "transformer.ln_f", x);
}

Tensor GptModel::trunk(const DecoderBatch& batch, const DecoderOptions& options, Tensor& balance) const {
  const GptConfig& c = config_;
  KILN_CHECK(batch.tokens.dim() == 2, "model input must be token ids [B, T], got {}", batch.tokens.describe());
  const Tensor positions =
      batch.positions.defined() ? batch.positions : default_positions(batch.tokens, c.mrope() ? 3 : 1);
  KILN_CHECK(batch.cu_seqlens.defined() || batch.tokens.size(1) <= c.max_seq_len,
             "context of {} tokens is longer than the model's max_seq_len {}", batch.tokens.size(1), c.max_seq_len);
  Tensor x = batch.input_embeddings.defined() ? batch.input_embeddings : embed(batch.tokens);
  KILN_CHECK(x.dim() == 3 && x.size(0) == batch.tokens.size(0) && x.size(1) == batch.tokens.size(1) &&
                 x.size(2) == c.d_model,
             "input embeddings {} do not match tokens {} and d_model {}", x.describe(), batch.tokens.describe(),
             c.d_model);
  if (c.arch == DecoderArch::gpt2) x = ops::add(x, ops::embedding(param("transformer.wpe.weight"), positions));
  for (int64_t l = 0; l < c.n_layer; ++l) x = run_block(l, x, positions, batch.cu_seqlens, options, balance);
  return x;
}

const std::string& GptModel::head_weight_name() const {
  static const std::string embed_llama = "model.embed_tokens.weight", embed_gpt2 = "transformer.wte.weight",
                           lm_head = "lm_head.weight";
  if (!config_.tie_embeddings) return lm_head;
  return config_.arch == DecoderArch::llama ? embed_llama : embed_gpt2;
}

Tensor GptModel::head(const Tensor& hidden) const {
  // DeepSeek-V3 keeps the output head out of FP8.
  std::optional<PrecisionGuard> head_precision;
  if (matmul_precision() == Precision::fp8) head_precision.emplace(Precision::f32);
  return ops::linear(hidden, param(head_weight_name()));
}

Tensor GptModel::head_loss(const Tensor& hidden, const Tensor& targets, const ops::CrossEntropyOptions& options) const {
  const int64_t n = hidden.numel() / config_.d_model;
  // Rows of 256 keep one chunk's logits at 256·V floats (51 MB for GPT-2's
  // vocabulary) while the weight-gradient product still has 256-deep panels.
  return ops::linear_cross_entropy(ops::reshape(hidden, {n, config_.d_model}), param(head_weight_name()),
                                   targets.reshape({n}), options, 256);
}

Tensor GptModel::logits(const DecoderBatch& batch, const DecoderOptions& options) const {
  Tensor balance;
  return head(final_norm(trunk(batch, options, balance)));
}

LossTerms GptModel::loss_terms(const DecoderBatch& batch, const DecoderOptions& options) const {
  KILN_CHECK(batch.targets.defined() && batch.targets.shape() == batch.tokens.shape(),
             "targets {} must match tokens {}", batch.targets.describe(), batch.tokens.describe());
  Tensor balance;
  const Tensor hidden = trunk(batch, options, balance);
  ops::CrossEntropyOptions ce;
  ce.normalizer = options.loss_normalizer;
  LossTerms terms;
  terms.total = head_loss(final_norm(hidden), batch.targets, ce);
  terms.main = terms.total.item();
  if (config_.mtp_depth > 0 && options.mtp_weight > 0) {
    const Tensor mtp = mtp_loss(batch, options, hidden, balance, terms.mtp);
    terms.total = ops::add(terms.total, ops::scale(mtp, options.mtp_weight));
  }
  if (balance.defined()) {
    // With gradient accumulation each micro-batch's share of the step.
    if (options.loss_normalizer > 0) {
      int64_t counted = 0;
      const Tensor targets = batch.targets.to(DType::i64).contiguous();
      for (int64_t i = 0; i < targets.numel(); ++i) counted += targets.data<int64_t>()[i] != -100;
      balance = ops::scale(balance, static_cast<double>(counted) / static_cast<double>(options.loss_normalizer));
    }
    terms.balance = balance.item();
    terms.total = ops::add(terms.total, balance);
  }
  return terms;
}

Tensor GptModel::loss(const DecoderBatch& batch, const DecoderOptions& options) const {
  return loss_terms(batch, options).total;
}

std::pair<double, int64_t> GptModel::loss_sum(const DecoderBatch& batch) const {
  NoGradGuard no_grad;
  KILN_CHECK(batch.targets.defined() && batch.targets.shape() == batch.tokens.shape(),
             "targets {} must match tokens {}", batch.targets.describe(), batch.tokens.describe());
  const Tensor out = logits(batch);
  const int64_t n = out.size(0) * out.size(1);
  const Tensor mean = ops::cross_entropy(ops::reshape(out, {n, config_.vocab_size}), batch.targets.reshape({n}));
  int64_t counted = 0;
  const Tensor targets = batch.targets.to(DType::i64).contiguous();
  const int64_t* t = targets.data<int64_t>();
  for (int64_t i = 0; i < targets.numel(); ++i) counted += t[i] != -100;
  return {mean.item() * static_cast<double>(counted), counted};
}

void KvCache::check_room(const Tensor& tokens, const char* caller) const {
  KILN_CHECK(tokens.dim() == 1 && tokens.size(0) >= 1, "{}: expected token ids [T], got {}", caller, tokens.describe());
  const int64_t capacity = keys.empty() ? 0 : keys[0].size(0);
  KILN_CHECK(length + tokens.size(0) <= capacity, "{}: {} tokens do not fit the KV cache ({} of {} used)", caller,
             tokens.size(0), length, capacity);
}

Tensor KvCache::next_positions(int64_t count) const {
  Tensor positions = Tensor::empty({1, count}, DType::i64);
  for (int64_t i = 0; i < count; ++i) positions.data<int64_t>()[i] = length + i;
  return positions;
}

int64_t KvCache::bytes_per_token() const {
  int64_t values = 0;
  for (size_t l = 0; l < keys.size(); ++l)
    values += keys[l].numel() / keys[l].size(0) + this->values[l].numel() / this->values[l].size(0);
  return values * static_cast<int64_t>(sizeof(float));
}

namespace {

KvCache make_cache(const GptConfig& c, int64_t capacity, bool mla_absorbed, int64_t first_layer, int64_t layers) {
  KILN_CHECK(capacity >= 1, "KV cache capacity must be positive");
  KILN_CHECK(c.arch == DecoderArch::llama || capacity <= c.max_seq_len,
             "generation of {} tokens exceeds the model's max_seq_len {} (learned positions)", capacity, c.max_seq_len);
  KvCache cache;
  cache.first_layer = first_layer;
  cache.mla_absorbed = mla_absorbed && c.attention == AttentionKind::mla;
  for (int64_t l = 0; l < layers; ++l) {
    if (c.attention == AttentionKind::mla && cache.mla_absorbed) {
      cache.keys.push_back(Tensor::zeros({capacity, 1, c.mla.kv_lora_rank}));
      cache.values.push_back(Tensor::zeros({capacity, 1, c.mla.qk_rope_head_dim}));
    } else if (c.attention == AttentionKind::mla) {
      cache.keys.push_back(Tensor::zeros({capacity, c.n_head, c.mla.qk_head_dim()}));
      cache.values.push_back(Tensor::zeros({capacity, c.n_head, c.mla.v_head_dim}));
    } else {
      const int64_t heads = c.arch == DecoderArch::llama ? c.n_kv_head : c.n_head;
      cache.keys.push_back(Tensor::zeros({capacity, heads, c.head_dim()}));
      cache.values.push_back(Tensor::zeros({capacity, heads, c.head_dim()}));
    }
  }
  return cache;
}

}  // namespace

KvCache GptModel::new_cache(int64_t capacity, bool mla_absorbed) const {
  return make_cache(config_, capacity, mla_absorbed, 0, config_.n_layer);
}

KvCache GptModel::new_mtp_cache(int64_t capacity, bool mla_absorbed) const {
  KILN_CHECK(config_.mtp_depth >= 1, "this model has no multi-token-prediction module (model.mtp_depth = 0)");
  return make_cache(config_, capacity, mla_absorbed, config_.n_layer, 1);
}

Tensor cached_attention(const Tensor& q, const Tensor& keys, const Tensor& values, int64_t start, double scale_factor) {
  const cpu::CachedAttentionShape shape{q.size(0), q.size(1), keys.size(1), q.size(2), values.size(2), start};
  Tensor out = Tensor::empty({shape.t_new, shape.heads, shape.dv});
  const Tensor qc = q.contiguous();
  cpu::cached_attention(qc.data<float>(), keys.data<float>(), values.data<float>(), shape,
                        static_cast<float>(scale_factor), out.data<float>());
  return out;
}

Tensor GptModel::decode_attention(int64_t layer, const Tensor& h, const Tensor& positions, KvCache& cache) const {
  const GptConfig& c = config_;
  if (c.attention == AttentionKind::mla) return decode_mla_attention(layer, h, positions, cache);
  const std::string p = layer_prefix(layer);
  const int64_t t_new = h.size(1), dh = c.head_dim(), slot = layer - cache.first_layer, start = cache.length;
  Tensor q, k, v, proj_w, proj_b;
  if (c.arch == DecoderArch::llama) {
    q = rotate(projection(p + "self_attn.q_proj", h).reshape({1, t_new, c.n_head, dh}), positions);
    k = rotate(projection(p + "self_attn.k_proj", h).reshape({1, t_new, c.n_kv_head, dh}), positions);
    v = projection(p + "self_attn.v_proj", h).reshape({1, t_new, c.n_kv_head, dh});
    proj_w = param(p + "self_attn.o_proj.weight");
  } else {
    const Tensor qkv = ops::linear(h, param(p + "attn.c_attn.weight"), param(p + "attn.c_attn.bias"));
    q = qkv.narrow(2, 0, c.d_model).reshape({1, t_new, c.n_head, dh});
    k = qkv.narrow(2, c.d_model, c.d_model).reshape({1, t_new, c.n_head, dh});
    v = qkv.narrow(2, 2 * c.d_model, c.d_model).reshape({1, t_new, c.n_head, dh});
    proj_w = param(p + "attn.c_proj.weight");
    proj_b = param(p + "attn.c_proj.bias");
  }
  cache.keys[slot].narrow(0, start, t_new).copy_(k.select(0, 0));
  cache.values[slot].narrow(0, start, t_new).copy_(v.select(0, 0));
  const Tensor attended =
      cached_attention(q.select(0, 0), cache.keys[slot], cache.values[slot], start, 1.0 / std::sqrt(double(dh)));
  return ops::linear(attended.reshape({1, t_new, c.d_model}), proj_w, proj_b);
}

Tensor GptModel::decode_block(int64_t layer, const Tensor& x, const Tensor& positions, KvCache& cache) const {
  const std::string p = layer_prefix(layer);
  const bool llama = config_.arch == DecoderArch::llama;
  Tensor unused_balance;
  const Tensor h = ops::add(x, decode_attention(layer, norm(p + (llama ? "input_layernorm" : "ln_1"), x), positions, cache));
  return ops::add(h, feed_forward(layer, norm(p + (llama ? "post_attention_layernorm" : "ln_2"), h), unused_balance));
}

Tensor GptModel::decode(const Tensor& tokens, KvCache& cache, Tensor* hidden) const {
  NoGradGuard no_grad;
  const GptConfig& c = config_;
  cache.check_room(tokens, "decode");
  KILN_CHECK(cache.first_layer == 0, "decode: this cache belongs to the MTP module");
  const int64_t t_new = tokens.size(0);
  Tensor positions = cache.next_positions(t_new);
  Tensor x = embed(tokens.to(DType::i64).reshape({1, t_new}));
  if (c.arch == DecoderArch::gpt2) x = ops::add(x, ops::embedding(param("transformer.wpe.weight"), positions));
  if (c.mrope()) {
    // Text after a prefill with images: t = h = w = index + rope_delta.
    Tensor shifted = Tensor::empty({3, 1, t_new}, DType::i64);
    for (int64_t a = 0; a < 3; ++a)
      for (int64_t i = 0; i < t_new; ++i)
        shifted.data<int64_t>()[a * t_new + i] = positions.data<int64_t>()[i] + cache.rope_delta;
    positions = shifted;
  }
  return decode_inputs(x, positions, cache, hidden);
}

Tensor GptModel::decode_inputs(const Tensor& embeddings, const Tensor& positions, KvCache& cache,
                               Tensor* hidden) const {
  NoGradGuard no_grad;
  const GptConfig& c = config_;
  KILN_CHECK(embeddings.dim() == 3 && embeddings.size(0) == 1 && embeddings.size(2) == c.d_model,
             "decode: expected embeddings [1, T, {}], got {}", c.d_model, embeddings.describe());
  const int64_t t_new = embeddings.size(1);
  const int64_t capacity = cache.keys.empty() ? 0 : cache.keys[0].size(0);
  KILN_CHECK(cache.length + t_new <= capacity, "decode: {} tokens do not fit the KV cache ({} of {} used)", t_new,
             cache.length, capacity);
  Tensor x = embeddings;
  for (int64_t l = 0; l < c.n_layer; ++l) x = decode_block(l, x, positions, cache);
  cache.length += t_new;
  if (hidden != nullptr) *hidden = x.reshape({t_new, c.d_model});
  return head(final_norm(x)).reshape({t_new, c.vocab_size});
}

}  // namespace kiln::models
