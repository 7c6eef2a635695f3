#include "kiln/models/gpt/model.hpp"

#include <cmath>
#include <optional>

#include "kiln/autograd/checkpoint.hpp"
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
#include "kiln/autograd/grad_mode.hpp"

namespace kiln::models {

namespace {

Tensor normal_tensor(const Shape& shape, double std, uint64_t seed, uint64_t stream) {
  Tensor t = Tensor::empty(shape, DType::f32);
  float* p = t.data<float>();
  const PhiloxKey key{seed, stream};
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(std) * philox_normal(key, static_cast<uint64_t>(i));
  return t;
}

Tensor default_positions(const Tensor& tokens) {
  const int64_t rows = tokens.size(0), length = tokens.size(1);
  Tensor positions = Tensor::empty({rows, length}, DType::i64);
  int64_t* p = positions.data<int64_t>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < length; ++t) p[r * length + t] = t;
  return positions;
}

}  // namespace

GptModel::GptModel(GptConfig config, uint64_t seed) : config_(std::move(config)) {
  config_.validate();
  const GptConfig& c = config_;
  const int64_t d = c.d_model, kv = c.n_kv_head * c.head_dim(), f = c.ffn_width();
  const double std = c.init_std;
  const double out_std = c.scaled_residual_init ? std / std::sqrt(2.0 * static_cast<double>(c.n_layer)) : std;
  uint64_t stream = 0;
  if (c.arch == DecoderArch::llama) {
    add_parameter("model.embed_tokens.weight", {c.vocab_size, d}, std, seed, stream);
    for (int64_t l = 0; l < c.n_layer; ++l) {
      const std::string p = layer_prefix(l);
      add_parameter(p + "input_layernorm.weight", {d}, 0, seed, stream);
      add_parameter(p + "self_attn.q_proj.weight", {d, d}, std, seed, stream);
      add_parameter(p + "self_attn.k_proj.weight", {kv, d}, std, seed, stream);
      add_parameter(p + "self_attn.v_proj.weight", {kv, d}, std, seed, stream);
      add_parameter(p + "self_attn.o_proj.weight", {d, d}, out_std, seed, stream);
      add_parameter(p + "post_attention_layernorm.weight", {d}, 0, seed, stream);
      add_parameter(p + "mlp.gate_proj.weight", {f, d}, std, seed, stream);
      add_parameter(p + "mlp.up_proj.weight", {f, d}, std, seed, stream);
      add_parameter(p + "mlp.down_proj.weight", {d, f}, out_std, seed, stream);
    }
    add_parameter("model.norm.weight", {d}, 0, seed, stream);
    if (!c.tie_embeddings) add_parameter("lm_head.weight", {c.vocab_size, d}, std, seed, stream);
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

// std > 0: normal(0, std²); std == 0: ones (norm gains); std < 0: zeros (biases).
void GptModel::add_parameter(const std::string& name, const Shape& shape, double std, uint64_t seed,
                             uint64_t& stream) {
  Tensor t = std > 0 ? normal_tensor(shape, std, seed, stream) : Tensor::full(shape, std == 0 ? 1.0 : 0.0);
  ++stream;
  t.set_requires_grad(true);
  parameters_.emplace(name, t);
}

void GptModel::load_parameters(const std::map<std::string, Tensor>& weights) {
  for (const auto& [name, tensor] : weights)
    KILN_CHECK(parameters_.count(name) != 0, "checkpoint has tensor '{}', which a {} model does not have", name,
               config_.arch_name());
  for (auto& [name, param] : parameters_) {
    auto it = weights.find(name);
    KILN_CHECK(it != weights.end(), "checkpoint lacks tensor '{}'", name);
    KILN_CHECK(it->second.shape() == param.shape(), "checkpoint tensor '{}' is {}, the model expects {}", name,
               it->second.describe(), param.describe());
    Tensor value = it->second.to(DType::f32).contiguous().clone();
    value.set_requires_grad(true);
    param = value;
  }
}

const Tensor& GptModel::param(const std::string& name) const {
  auto it = parameters_.find(name);
  KILN_CHECK(it != parameters_.end(), "model has no parameter '{}'", name);
  return it->second;
}

std::string GptModel::layer_prefix(int64_t layer) const {
  return config_.arch == DecoderArch::llama ? fmt::format("model.layers.{}.", layer)
                                            : fmt::format("transformer.h.{}.", layer);
}

Tensor GptModel::norm(const std::string& prefix, const Tensor& x) const {
  if (config_.arch == DecoderArch::llama) return ops::rms_norm(x, param(prefix + ".weight"), config_.norm_eps);
  return ops::layer_norm(x, param(prefix + ".weight"), param(prefix + ".bias"), config_.norm_eps);
}

Tensor GptModel::attention(int64_t layer, const Tensor& h, const Tensor& positions, const Tensor& cu_seqlens) const {
  const GptConfig& c = config_;
  const std::string p = layer_prefix(layer);
  const int64_t rows = h.size(0), length = h.size(1), dh = c.head_dim();
  ops::AttentionOptions options;
  options.causal = true;
  options.cu_seqlens = cu_seqlens;
  Tensor q, k, v, out;
  if (c.arch == DecoderArch::llama) {
    q = ops::reshape(ops::linear(h, param(p + "self_attn.q_proj.weight")), {rows, length, c.n_head, dh});
    k = ops::reshape(ops::linear(h, param(p + "self_attn.k_proj.weight")), {rows, length, c.n_kv_head, dh});
    v = ops::reshape(ops::linear(h, param(p + "self_attn.v_proj.weight")), {rows, length, c.n_kv_head, dh});
    q = ops::rope(q, positions, c.rope_theta, c.rope_interleaved);
    k = ops::rope(k, positions, c.rope_theta, c.rope_interleaved);
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

Tensor GptModel::feed_forward(int64_t layer, const Tensor& h) const {
  const std::string p = layer_prefix(layer);
  if (config_.arch == DecoderArch::llama) {
    const Tensor gate = ops::linear(h, param(p + "mlp.gate_proj.weight"));
    const Tensor up = ops::linear(h, param(p + "mlp.up_proj.weight"));
    return ops::linear(ops::swiglu(gate, up), param(p + "mlp.down_proj.weight"));
  }
  const Tensor hidden = ops::gelu(ops::linear(h, param(p + "mlp.c_fc.weight"), param(p + "mlp.c_fc.bias")),
                                  ops::GeluApproximation::tanh);
  return ops::linear(hidden, param(p + "mlp.c_proj.weight"), param(p + "mlp.c_proj.bias"));
}

Tensor GptModel::block(int64_t layer, const Tensor& x, const Tensor& positions, const Tensor& cu_seqlens) const {
  const std::string p = layer_prefix(layer);
  const bool llama = config_.arch == DecoderArch::llama;
  const Tensor h = ops::add(x, attention(layer, norm(p + (llama ? "input_layernorm" : "ln_1"), x), positions, cu_seqlens));
  return ops::add(h, feed_forward(layer, norm(p + (llama ? "post_attention_layernorm" : "ln_2"), h)));
}

Tensor GptModel::hidden_states(const DecoderBatch& batch, const DecoderOptions& options) const {
  const GptConfig& c = config_;
  KILN_CHECK(batch.tokens.dim() == 2, "model input must be token ids [B, T], got {}", batch.tokens.describe());
  const Tensor positions = batch.positions.defined() ? batch.positions : default_positions(batch.tokens);
  KILN_CHECK(batch.cu_seqlens.defined() || batch.tokens.size(1) <= c.max_seq_len,
             "context of {} tokens is longer than the model's max_seq_len {}", batch.tokens.size(1), c.max_seq_len);
  const bool llama = c.arch == DecoderArch::llama;
  Tensor x = ops::embedding(param(llama ? "model.embed_tokens.weight" : "transformer.wte.weight"), batch.tokens);
  if (!llama) x = ops::add(x, ops::embedding(param("transformer.wpe.weight"), positions));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    if (options.gradient_checkpointing) {
      x = autograd::checkpoint(
          [this, l, positions, cu = batch.cu_seqlens](const autograd::TensorList& in) {
            return autograd::TensorList{block(l, in[0], positions, cu)};
          },
          {x})[0];
    } else {
      x = block(l, x, positions, batch.cu_seqlens);
    }
  }
  return norm(llama ? "model.norm" : "transformer.ln_f", x);
}

Tensor GptModel::head(const Tensor& hidden) const {
  const bool llama = config_.arch == DecoderArch::llama;
  const std::string& name =
      config_.tie_embeddings ? (llama ? "model.embed_tokens.weight" : "transformer.wte.weight") : "lm_head.weight";
  // DeepSeek-V3 keeps the output head out of FP8.
  std::optional<PrecisionGuard> head_precision;
  if (matmul_precision() == Precision::fp8) head_precision.emplace(Precision::f32);
  return ops::linear(hidden, param(name));
}

Tensor GptModel::logits(const DecoderBatch& batch, const DecoderOptions& options) const {
  return head(hidden_states(batch, options));
}

Tensor GptModel::loss(const DecoderBatch& batch, const DecoderOptions& options) const {
  KILN_CHECK(batch.targets.defined() && batch.targets.shape() == batch.tokens.shape(),
             "targets {} must match tokens {}", batch.targets.describe(), batch.tokens.describe());
  const Tensor out = logits(batch, options);
  const int64_t n = out.size(0) * out.size(1);
  ops::CrossEntropyOptions ce;
  ce.normalizer = options.loss_normalizer;
  return ops::cross_entropy(ops::reshape(out, {n, config_.vocab_size}), batch.targets.reshape({n}), ce);
}

std::pair<double, int64_t> GptModel::loss_sum(const DecoderBatch& batch) const {
  NoGradGuard no_grad;
  const Tensor mean = loss(batch);
  int64_t counted = 0;
  const Tensor targets = batch.targets.to(DType::i64).contiguous();
  const int64_t* t = targets.data<int64_t>();
  for (int64_t i = 0; i < targets.numel(); ++i) counted += t[i] != -100;
  return {mean.item() * static_cast<double>(counted), counted};
}

KvCache GptModel::new_cache(int64_t capacity) const {
  KILN_CHECK(capacity >= 1, "KV cache capacity must be positive");
  KILN_CHECK(config_.arch == DecoderArch::llama || capacity <= config_.max_seq_len,
             "generation of {} tokens exceeds the model's max_seq_len {} (learned positions)", capacity,
             config_.max_seq_len);
  KvCache cache;
  const int64_t heads = config_.arch == DecoderArch::llama ? config_.n_kv_head : config_.n_head;
  for (int64_t l = 0; l < config_.n_layer; ++l) {
    cache.keys.push_back(Tensor::zeros({capacity, heads, config_.head_dim()}));
    cache.values.push_back(Tensor::zeros({capacity, heads, config_.head_dim()}));
  }
  return cache;
}

namespace {

// Attention of new queries q [T_new, H, D] (absolute positions start..start+T_new−1)
// over cached keys/values [0, start+T_new): row s sees keys 0..start+s.
Tensor cached_attention(const Tensor& q, const Tensor& keys, const Tensor& values, int64_t start) {
  const int64_t t_new = q.size(0), heads = q.size(1), dh = q.size(2), kv_heads = keys.size(1);
  const int64_t group = heads / kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  Tensor out = Tensor::zeros({t_new, heads, dh});
  const Tensor qc = q.contiguous();
  const float* pq = qc.data<float>();
  const float* pk = keys.data<float>();
  const float* pv = values.data<float>();
  float* po = out.data<float>();
  std::vector<float> scores(static_cast<size_t>(start + t_new));
  for (int64_t s = 0; s < t_new; ++s) {
    const int64_t visible = start + s + 1;
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t g = h / group;
      const float* qv = pq + (s * heads + h) * dh;
      float best = -INFINITY;
      for (int64_t j = 0; j < visible; ++j) {
        const float* kv = pk + (j * kv_heads + g) * dh;
        float dot = 0;
        for (int64_t i = 0; i < dh; ++i) dot += qv[i] * kv[i];
        scores[j] = dot * scale;
        best = std::max(best, scores[j]);
      }
      float total = 0;
      for (int64_t j = 0; j < visible; ++j) total += scores[j] = std::exp(scores[j] - best);
      float* o = po + (s * heads + h) * dh;
      for (int64_t j = 0; j < visible; ++j) {
        const float w = scores[j] / total;
        const float* vv = pv + (j * kv_heads + g) * dh;
        for (int64_t i = 0; i < dh; ++i) o[i] += w * vv[i];
      }
    }
  }
  return out;
}

}  // namespace

Tensor GptModel::decode(const Tensor& tokens, KvCache& cache) const {
  NoGradGuard no_grad;
  const GptConfig& c = config_;
  KILN_CHECK(tokens.dim() == 1 && tokens.size(0) >= 1, "decode: expected token ids [T], got {}", tokens.describe());
  const int64_t t_new = tokens.size(0), start = cache.length, dh = c.head_dim();
  const int64_t capacity = cache.keys.empty() ? 0 : cache.keys[0].size(0);
  KILN_CHECK(start + t_new <= capacity, "decode: {} tokens do not fit the KV cache ({} of {} used)", t_new, start,
             capacity);
  const bool llama = c.arch == DecoderArch::llama;
  Tensor positions = Tensor::empty({1, t_new}, DType::i64);
  for (int64_t i = 0; i < t_new; ++i) positions.data<int64_t>()[i] = start + i;
  const Tensor ids = tokens.to(DType::i64).reshape({1, t_new});
  Tensor x = ops::embedding(param(llama ? "model.embed_tokens.weight" : "transformer.wte.weight"), ids);
  if (!llama) x = ops::add(x, ops::embedding(param("transformer.wpe.weight"), positions));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string p = layer_prefix(l);
    const Tensor h = norm(p + (llama ? "input_layernorm" : "ln_1"), x);
    Tensor q, k, v, proj_w, proj_b;
    if (llama) {
      q = ops::rope(ops::linear(h, param(p + "self_attn.q_proj.weight")).reshape({1, t_new, c.n_head, dh}), positions,
                    c.rope_theta, c.rope_interleaved);
      k = ops::rope(ops::linear(h, param(p + "self_attn.k_proj.weight")).reshape({1, t_new, c.n_kv_head, dh}),
                    positions, c.rope_theta, c.rope_interleaved);
      v = ops::linear(h, param(p + "self_attn.v_proj.weight")).reshape({1, t_new, c.n_kv_head, dh});
      proj_w = param(p + "self_attn.o_proj.weight");
    } else {
      const Tensor qkv = ops::linear(h, param(p + "attn.c_attn.weight"), param(p + "attn.c_attn.bias"));
      q = qkv.narrow(2, 0, c.d_model).reshape({1, t_new, c.n_head, dh});
      k = qkv.narrow(2, c.d_model, c.d_model).reshape({1, t_new, c.n_head, dh});
      v = qkv.narrow(2, 2 * c.d_model, c.d_model).reshape({1, t_new, c.n_head, dh});
      proj_w = param(p + "attn.c_proj.weight");
      proj_b = param(p + "attn.c_proj.bias");
    }
    cache.keys[l].narrow(0, start, t_new).copy_(k.select(0, 0));
    cache.values[l].narrow(0, start, t_new).copy_(v.select(0, 0));
    const Tensor attended = cached_attention(q.select(0, 0), cache.keys[l], cache.values[l], start);
    x = ops::add(x, ops::linear(attended.reshape({1, t_new, c.d_model}), proj_w, proj_b));
    x = ops::add(x, feed_forward(l, norm(p + (llama ? "post_attention_layernorm" : "ln_2"), x)));
  }
  cache.length += t_new;
  return head(norm(llama ? "model.norm" : "transformer.ln_f", x)).reshape({t_new, c.vocab_size});
}

}  // namespace kiln::models
