#include "kiln/models/bert/bert.hpp"

#include <cmath>

#include "kiln/autograd/ops/activation.hpp"
#include "kiln/autograd/ops/attention.hpp"
#include "kiln/autograd/ops/dropout.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/embedding.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/models/parameters.hpp"
#include "kiln/models/vit/vit.hpp"

namespace kiln::models {

void BertConfig::validate() const {
  KILN_CHECK(vocab_size >= 5, "model.vocab_size must be at least 5 (the special tokens), got {}", vocab_size);
  KILN_CHECK(d_model >= 1 && n_head >= 1 && d_model % n_head == 0,
             "model.d_model ({}) must be a positive multiple of model.n_head ({})", d_model, n_head);
  KILN_CHECK(n_layer >= 1 && ffn_dim >= 1 && max_positions >= 2 && type_vocab >= 1,
             "model.n_layer, ffn_dim, max_positions and type_vocab must be positive");
  KILN_CHECK(dropout >= 0 && dropout < 1, "model.dropout must be in [0, 1), got {}", dropout);
  KILN_CHECK(n_classes >= 0, "model.n_classes must not be negative");
}

int64_t BertConfig::parameter_count(bool with_mlm_head) const {
  const int64_t h = d_model, f = ffn_dim;
  const int64_t layer = 4 * (h * h + h) + 2 * 2 * h + (h * f + f) + (f * h + h);
  int64_t total = (vocab_size + max_positions + type_vocab) * h + 2 * h + n_layer * layer + (h * h + h);
  if (with_mlm_head) total += (h * h + h) + 2 * h + vocab_size;
  if (n_classes > 0) total += h * n_classes + n_classes;
  return total;
}

BertModel::BertModel(BertConfig config, uint64_t seed) : config_(std::move(config)) {
  config_.validate();
  const BertConfig& c = config_;
  const int64_t h = c.d_model;
  uint64_t stream = 0;
  const auto add = [&](const std::string& name, const Shape& shape, double std) {
    Tensor t = init_parameter(shape, std, seed, stream++);
    t.set_requires_grad(true);
    parameters_[name] = t;
  };
  const double s = c.init_std;
  add("bert.embeddings.word_embeddings.weight", {c.vocab_size, h}, s);
  add("bert.embeddings.position_embeddings.weight", {c.max_positions, h}, s);
  add("bert.embeddings.token_type_embeddings.weight", {c.type_vocab, h}, s);
  add("bert.embeddings.LayerNorm.weight", {h}, 0);
  add("bert.embeddings.LayerNorm.bias", {h}, -1);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string p = fmt::format("bert.encoder.layer.{}.", l);
    for (const char* proj : {"query", "key", "value"}) {
      add(p + "attention.self." + proj + ".weight", {h, h}, s);
      add(p + "attention.self." + proj + ".bias", {h}, -1);
    }
    add(p + "attention.output.dense.weight", {h, h}, s);
    add(p + "attention.output.dense.bias", {h}, -1);
    add(p + "attention.output.LayerNorm.weight", {h}, 0);
    add(p + "attention.output.LayerNorm.bias", {h}, -1);
    add(p + "intermediate.dense.weight", {c.ffn_dim, h}, s);
    add(p + "intermediate.dense.bias", {c.ffn_dim}, -1);
    add(p + "output.dense.weight", {h, c.ffn_dim}, s);
    add(p + "output.dense.bias", {h}, -1);
    add(p + "output.LayerNorm.weight", {h}, 0);
    add(p + "output.LayerNorm.bias", {h}, -1);
  }
  add("bert.pooler.dense.weight", {h, h}, s);
  add("bert.pooler.dense.bias", {h}, -1);
  add("cls.predictions.transform.dense.weight", {h, h}, s);
  add("cls.predictions.transform.dense.bias", {h}, -1);
  add("cls.predictions.transform.LayerNorm.weight", {h}, 0);
  add("cls.predictions.transform.LayerNorm.bias", {h}, -1);
  add("cls.predictions.bias", {c.vocab_size}, -1);
  if (c.n_classes > 0) {
    add("classifier.weight", {c.n_classes, h}, s);
    add("classifier.bias", {c.n_classes}, -1);
  }
}

void BertModel::load_parameters(const std::map<std::string, Tensor>& weights, bool partial) {
  load_named_parameters(parameters_, weights, "this BERT", partial);
}

const Tensor& BertModel::param(const std::string& name) const {
  return find_parameter(parameters_, name);
}

Tensor BertModel::dropout(const Tensor& x, bool training, uint64_t seed, uint64_t stream) const {
  if (!training || config_.dropout <= 0) return x;
  return ops::dropout(x, config_.dropout, {seed, stream}, true);
}

Tensor BertModel::encode(const BertBatch& batch, bool training, uint64_t seed, uint64_t step) const {
  const BertConfig& c = config_;
  KILN_CHECK(batch.tokens.dim() == 2, "BERT input must be token ids [B, L], got {}", batch.tokens.describe());
  const int64_t b = batch.tokens.size(0), l = batch.tokens.size(1), h = c.d_model, dh = h / c.n_head;
  KILN_CHECK(l <= c.max_positions, "sequence of {} tokens is longer than model.max_positions {}", l, c.max_positions);
  Tensor positions = Tensor::empty({b, l}, DType::i64);
  for (int64_t i = 0; i < b * l; ++i) positions.data<int64_t>()[i] = i % l;
  const Tensor segments = batch.segments.defined() ? batch.segments : Tensor::zeros({b, l}, DType::i64);
  uint64_t site = step << 20;  // a dropout stream per (step, site)
  Tensor x = ops::add(ops::add(ops::embedding(param("bert.embeddings.word_embeddings.weight"), batch.tokens),
                               ops::embedding(param("bert.embeddings.position_embeddings.weight"), positions)),
                      ops::embedding(param("bert.embeddings.token_type_embeddings.weight"), segments));
  x = dropout(ops::layer_norm(x, param("bert.embeddings.LayerNorm.weight"), param("bert.embeddings.LayerNorm.bias"),
                              c.norm_eps),
              training, seed, site++);
  ops::AttentionOptions attention;
  if (batch.attention.defined()) attention.key_padding_mask = batch.attention;
  for (int64_t layer = 0; layer < c.n_layer; ++layer) {
    const std::string p = fmt::format("bert.encoder.layer.{}.", layer);
    const auto project = [&](const char* name) {
      const std::string base = p + "attention.self." + name;
      return ops::reshape(ops::linear(x, param(base + ".weight"), param(base + ".bias")), {b, l, c.n_head, dh});
    };
    // (Attention-probability dropout is left out: the fused kernel never materialises the probabilities.)
    const Tensor context = ops::reshape(ops::attention(project("query"), project("key"), project("value"), attention),
                                        {b, l, h});
    const Tensor attended = dropout(
        ops::linear(context, param(p + "attention.output.dense.weight"), param(p + "attention.output.dense.bias")),
        training, seed, site++);
    x = ops::layer_norm(ops::add(attended, x), param(p + "attention.output.LayerNorm.weight"),
                        param(p + "attention.output.LayerNorm.bias"), c.norm_eps);
    const Tensor hidden =
        ops::gelu(ops::linear(x, param(p + "intermediate.dense.weight"), param(p + "intermediate.dense.bias")));
    const Tensor out = dropout(ops::linear(hidden, param(p + "output.dense.weight"), param(p + "output.dense.bias")),
                               training, seed, site++);
    x = ops::layer_norm(ops::add(out, x), param(p + "output.LayerNorm.weight"), param(p + "output.LayerNorm.bias"),
                        c.norm_eps);
  }
  return x;
}

Tensor BertModel::mlm_loss(const BertBatch& batch, const Tensor& labels, bool training, uint64_t seed,
                           uint64_t step) const {
  KILN_CHECK(labels.shape() == batch.tokens.shape(), "MLM labels {} must match tokens {}", labels.describe(),
             batch.tokens.describe());
  const BertConfig& c = config_;
  const Tensor hidden = encode(batch, training, seed, step);
  const int64_t b = hidden.size(0), l = hidden.size(1);
  // Only the chosen positions go through the head (the [B·L, V] logits are never formed).
  std::vector<int64_t> rows, targets;
  const Tensor flat = labels.to(DType::i64).contiguous();
  for (int64_t i = 0; i < b * l; ++i)
    if (flat.data<int64_t>()[i] != -100) {
      rows.push_back(i);
      targets.push_back(flat.data<int64_t>()[i]);
    }
  KILN_CHECK(!rows.empty(), "MLM batch has no masked position");
  const auto n = static_cast<int64_t>(rows.size());
  const Tensor chosen = ops::embedding(ops::reshape(hidden, {b * l, c.d_model}), Tensor::from<int64_t>(rows, {n}));
  Tensor t = ops::gelu(ops::linear(chosen, param("cls.predictions.transform.dense.weight"),
                                   param("cls.predictions.transform.dense.bias")));
  t = ops::layer_norm(t, param("cls.predictions.transform.LayerNorm.weight"),
                      param("cls.predictions.transform.LayerNorm.bias"), c.norm_eps);
  const Tensor logits =
      ops::linear(t, param("bert.embeddings.word_embeddings.weight"), param("cls.predictions.bias"));  // tied decoder
  return ops::cross_entropy(logits, Tensor::from<int64_t>(targets, {n}));
}

Tensor BertModel::classify(const BertBatch& batch, bool training, uint64_t seed, uint64_t step) const {
  KILN_CHECK(config_.n_classes > 0, "this BERT has no classifier (model.n_classes = 0)");
  const Tensor hidden = encode(batch, training, seed, step);
  const Tensor cls = ops::reshape(ops::narrow(hidden, 1, 0, 1), {hidden.size(0), config_.d_model});
  const Tensor pooled = ops::tanh(ops::linear(cls, param("bert.pooler.dense.weight"), param("bert.pooler.dense.bias")));
  return ops::linear(dropout(pooled, training, seed, (step << 20) | 0xfffff), param("classifier.weight"),
                     param("classifier.bias"));
}

Tensor mask_tokens(Tensor& tokens, const std::vector<uint8_t>& maskable, const std::vector<uint8_t>& continues_word,
                   const MaskingOptions& o, uint64_t seed, uint64_t draw) {
  KILN_CHECK(tokens.dtype() == DType::i64 && tokens.is_contiguous(), "mask_tokens: tokens must be contiguous i64");
  const int64_t n = tokens.numel();
  KILN_CHECK(static_cast<int64_t>(maskable.size()) == n, "mask_tokens: {} maskable flags for {} tokens",
             maskable.size(), n);
  Tensor labels = Tensor::full(tokens.shape(), -100.0, DType::i64);
  int64_t* t = tokens.data<int64_t>();
  int64_t* y = labels.data<int64_t>();
  const PhiloxKey key{seed, 0x6d6c6dULL ^ (draw << 8)};
  bool word_chosen = false;
  for (int64_t i = 0; i < n; ++i) {
    if (!maskable[i]) {
      word_chosen = false;
      continue;
    }
    const auto bits = philox_block(key, static_cast<uint64_t>(i));
    const double u = bits[0] * (1.0 / 4294967296.0);
    const bool continuation = o.whole_word && !continues_word.empty() && continues_word[i] && i > 0 && maskable[i - 1];
    const bool chosen = continuation ? word_chosen : u < o.rate;
    word_chosen = chosen;
    if (!chosen) continue;
    y[i] = t[i];
    const double v = bits[1] * (1.0 / 4294967296.0);
    if (v < 0.8) {
      t[i] = o.mask_id;
    } else if (v < 0.9) {
      t[i] = static_cast<int64_t>(bits[2] % static_cast<uint32_t>(o.vocab_size));
    }
  }
  return labels;
}

}  // namespace kiln::models
