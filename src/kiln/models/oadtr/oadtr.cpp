#include "kiln/models/oadtr/oadtr.hpp"

#include <cmath>

#include <fmt/core.h>

#include "kiln/autograd/ops/activation.hpp"
#include "kiln/autograd/ops/attention.hpp"
#include "kiln/autograd/ops/dropout.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/gru.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/models/parameters.hpp"

namespace kiln::models {

void OadtrConfig::validate() const {
  KILN_CHECK(feature_dim >= 1 && window >= 1 && classes >= 2, "model.feature_dim, model.window must be positive and model.classes at least 2");
  KILN_CHECK(d_model >= 1 && enc_heads >= 1 && d_model % enc_heads == 0,
             "model.d_model ({}) must be a positive multiple of model.enc_heads ({})", d_model, enc_heads);
  KILN_CHECK(dec_heads >= 1 && d_model % dec_heads == 0, "model.d_model ({}) must be a multiple of model.dec_heads ({})",
             d_model, dec_heads);
  KILN_CHECK(enc_layers >= 1 && dec_layers >= 1 && queries >= 1 && ffn_dim >= 1 && dec_ffn >= 1,
             "model.enc_layers, dec_layers, queries, ffn_dim and dec_ffn must be positive");
  KILN_CHECK(dropout >= 0 && dropout < 1, "model.dropout must be in [0, 1), got {}", dropout);
}

int64_t OadtrConfig::parameter_count() const {
  const int64_t d = d_model;
  const int64_t encoder_block = 4 * d + 3 * d * d + d * d + d + ffn_dim * d + ffn_dim + d * ffn_dim + d;
  const int64_t attention = 4 * (d * d + d);
  const int64_t decoder_block = 2 * attention + dec_ffn * d + dec_ffn + d * dec_ffn + d + 6 * d;
  return feature_dim * d + d + d + (window + 1) * d + enc_layers * encoder_block + 2 * d + queries * d +
         dec_layers * decoder_block + 2 * d + classes * d + classes + classes * 2 * d + classes;
}

namespace {

// PyTorch's default initialisation of nn.Linear: U(−1/√in, 1/√in) for weight and bias.
class ParameterMaker {
 public:
  ParameterMaker(std::map<std::string, Tensor>& parameters, uint64_t seed) : parameters_(parameters), seed_(seed) {}

  void linear(const std::string& name, int64_t out, int64_t in, bool bias = true) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    parameters_[name + ".weight"] = uniform_parameter({out, in}, bound, seed_, stream_++);
    if (bias) parameters_[name + ".bias"] = uniform_parameter({out}, bound, seed_, stream_++);
  }
  void layer_norm(const std::string& name, int64_t d) {
    add(name + ".weight", Tensor::ones({d}));
    add(name + ".bias", Tensor::zeros({d}));
  }
  void normal(const std::string& name, const Shape& shape, double std) {
    add(name, init_parameter(shape, std, seed_, stream_++));
  }
  void zeros(const std::string& name, const Shape& shape) { add(name, Tensor::zeros(shape)); }
  void uniform(const std::string& name, const Shape& shape, double bound) {
    parameters_[name] = uniform_parameter(shape, bound, seed_, stream_++);
  }

 private:
  void add(const std::string& name, Tensor t) {
    t.set_requires_grad(true);
    parameters_[name] = std::move(t);
  }

  std::map<std::string, Tensor>& parameters_;
  uint64_t seed_;
  uint64_t stream_ = 0;
};

// Dropout sites get distinct Philox streams of the forward's key.
class DropoutSites {
 public:
  DropoutSites(double p, bool training, const PhiloxKey& key) : p_(p), training_(training), key_(key) {}
  Tensor operator()(const Tensor& x) {
    if (!training_ || p_ == 0) return x;
    return ops::dropout(x, p_, PhiloxKey{key_.seed, key_.stream * 1024 + site_++}, true);
  }

 private:
  double p_;
  bool training_;
  PhiloxKey key_;
  uint64_t site_ = 0;
};

}  // namespace

OadtrModel::OadtrModel(OadtrConfig config, uint64_t seed) : config_(std::move(config)) {
  config_.validate();
  const OadtrConfig& c = config_;
  const int64_t d = c.d_model;
  ParameterMaker make(parameters_, seed);
  make.linear("linear_encoding", d, c.feature_dim);
  make.zeros("cls_token", {1, 1, d});
  make.normal("position_encoding.position_embeddings", {1, c.window + 1, d}, 0.02);
  for (int64_t l = 0; l < c.enc_layers; ++l) {
    const std::string p = fmt::format("encoder.layers.{}.", l);
    make.layer_norm(p + "norm1", d);
    make.linear(p + "attn.qkv", 3 * d, d, false);
    make.linear(p + "attn.proj", d, d);
    make.layer_norm(p + "norm2", d);
    make.linear(p + "mlp.fc1", c.ffn_dim, d);
    make.linear(p + "mlp.fc2", d, c.ffn_dim);
  }
  make.layer_norm("pre_head_ln", d);
  make.zeros("decoder_cls_token", {1, c.queries, d});
  for (int64_t l = 0; l < c.dec_layers; ++l) {
    const std::string p = fmt::format("decoder.layers.{}.", l);
    for (const char* attention : {"self_attention", "cross_attention"})
      for (const char* projection : {"query_projection", "key_projection", "value_projection", "out_projection"})
        make.linear(p + attention + "." + projection, d, d);
    make.linear(p + "conv1", c.dec_ffn, d);
    make.linear(p + "conv2", d, c.dec_ffn);
    make.layer_norm(p + "norm1", d);
    make.layer_norm(p + "norm2", d);
    make.layer_norm(p + "norm3", d);
  }
  make.layer_norm("decoder.norm", d);
  make.linear("classifier", c.classes, d);
  make.linear("mlp_head", c.classes, 2 * d);
}

void OadtrModel::load_parameters(const std::map<std::string, Tensor>& weights) {
  load_named_parameters(parameters_, weights, "this OadTR model");
}

const Tensor& OadtrModel::param(const std::string& name) const {
  return find_parameter(parameters_, name);
}

DetectorOutput OadtrModel::forward(const Tensor& windows, bool training, const PhiloxKey& key) const {
  const OadtrConfig& c = config_;
  KILN_CHECK(windows.dim() == 3 && windows.size(1) == c.window && windows.size(2) == c.feature_dim,
             "OadTR takes windows [B, {}, {}], got {}", c.window, c.feature_dim, windows.describe());
  const int64_t b = windows.size(0), d = c.d_model, tokens = c.window + 1, q = c.queries;
  DropoutSites drop(c.dropout, training, key);
  const auto w = [&](const std::string& name) -> const Tensor& { return param(name); };
  const auto ln = [&](const Tensor& x, const std::string& name) {
    return ops::layer_norm(x, w(name + ".weight"), w(name + ".bias"), c.norm_eps);
  };
  const auto lin = [&](const Tensor& x, const std::string& name) {
    return ops::linear(x, w(name + ".weight"), w(name + ".bias"));
  };

  Tensor x = ops::linear(windows.to(DType::f32), w("linear_encoding.weight"), w("linear_encoding.bias"));
  x = ops::concat({x, ops::expand(w("cls_token"), {b, 1, d})}, 1);
  x = drop(ops::add(x, w("position_encoding.position_embeddings")));
  const int64_t enc_dh = d / c.enc_heads;
  for (int64_t l = 0; l < c.enc_layers; ++l) {
    const std::string p = fmt::format("encoder.layers.{}.", l);
    const Tensor h = ln(x, p + "norm1");
    const std::vector<Tensor> qkv =
        ops::split(ops::reshape(ops::linear(h, w(p + "attn.qkv.weight")), {b, tokens, 3, c.enc_heads, enc_dh}),
                   {1, 1, 1}, 2);
    const auto head = [&](const Tensor& t) { return ops::reshape(t, {b, tokens, c.enc_heads, enc_dh}); };
    const Tensor attended = ops::attention(head(qkv[0]), head(qkv[1]), head(qkv[2]));
    x = ops::add(x, drop(lin(ops::reshape(attended, {b, tokens, d}), p + "attn.proj")));
    const Tensor g = ln(x, p + "norm2");
    const Tensor hidden = drop(ops::gelu(lin(g, p + "mlp.fc1")));
    x = ops::add(x, drop(lin(hidden, p + "mlp.fc2")));
  }
  const Tensor encoded = ln(x, "pre_head_ln");  // [B, T+1, D]

  const int64_t dec_dh = d / c.dec_heads;
  const auto attend = [&](const Tensor& queries, const Tensor& memory, const std::string& p, bool causal) {
    const int64_t tq = queries.size(1), tk = memory.size(1);
    const Tensor qh = ops::reshape(lin(queries, p + ".query_projection"), {b, tq, c.dec_heads, dec_dh});
    const Tensor kh = ops::reshape(lin(memory, p + ".key_projection"), {b, tk, c.dec_heads, dec_dh});
    const Tensor vh = ops::reshape(lin(memory, p + ".value_projection"), {b, tk, c.dec_heads, dec_dh});
    ops::AttentionOptions options;
    options.causal = causal;
    return lin(ops::reshape(ops::attention(qh, kh, vh, options), {b, tq, d}), p + ".out_projection");
  };
  Tensor y = ops::expand(w("decoder_cls_token"), {b, q, d});
  for (int64_t l = 0; l < c.dec_layers; ++l) {
    const std::string p = fmt::format("decoder.layers.{}.", l);
    y = ln(ops::add(y, drop(attend(y, y, p + "self_attention", true))), p + "norm1");
    y = ln(ops::add(y, drop(attend(y, encoded, p + "cross_attention", false))), p + "norm2");
    const Tensor hidden = drop(ops::gelu(lin(y, p + "conv1")));
    y = ln(ops::add(y, drop(lin(hidden, p + "conv2"))), p + "norm3");
  }
  const Tensor decoded = drop(ln(y, "decoder.norm"));  // [B, Q, D]

  DetectorOutput out;
  out.future = lin(decoded, "classifier");
  const Tensor task = ops::reshape(ops::narrow(encoded, 1, c.window, 1), {b, d});
  out.current = lin(ops::concat({task, ops::mean(decoded, 1)}, 1), "mlp_head");
  return out;
}

DetectorLoss OadtrModel::loss(const Tensor& windows, const Tensor& current, const Tensor& future, bool training,
                              const PhiloxKey& key) const {
  const DetectorOutput out = forward(windows, training, key);
  const int64_t b = windows.size(0);
  KILN_CHECK(current.numel() == b && future.numel() == b * config_.queries,
             "OadTR targets: expected {} current and {}×{} future labels", b, b, config_.queries);
  DetectorLoss loss;
  loss.current_loss = ops::cross_entropy(out.current, current.reshape({b}));
  loss.future_loss = ops::cross_entropy(ops::reshape(out.future, {b * config_.queries, config_.classes}),
                                        future.reshape({b * config_.queries}));
  loss.loss = ops::add(loss.current_loss, ops::scale(loss.future_loss, config_.future_weight));
  return loss;
}

void GruDetectorConfig::validate() const {
  KILN_CHECK(feature_dim >= 1 && window >= 1 && hidden >= 1 && classes >= 2,
             "the GRU detector needs positive model.feature_dim, window, hidden and at least 2 classes");
}

GruDetector::GruDetector(GruDetectorConfig config, uint64_t seed) : config_(std::move(config)) {
  config_.validate();
  const GruDetectorConfig& c = config_;
  ParameterMaker make(parameters_, seed);
  make.linear("input_projection", c.hidden, c.feature_dim);
  const double bound = 1.0 / std::sqrt(static_cast<double>(c.hidden));  // nn.GRU's default
  make.uniform("gru.weight_ih_l0", {3 * c.hidden, c.hidden}, bound);
  make.uniform("gru.weight_hh_l0", {3 * c.hidden, c.hidden}, bound);
  make.uniform("gru.bias_ih_l0", {3 * c.hidden}, bound);
  make.uniform("gru.bias_hh_l0", {3 * c.hidden}, bound);
  make.linear("classifier", c.classes, c.hidden);
}

void GruDetector::load_parameters(const std::map<std::string, Tensor>& weights) {
  load_named_parameters(parameters_, weights, "this GRU detector");
}

const Tensor& GruDetector::param(const std::string& name) const {
  return find_parameter(parameters_, name);
}

DetectorOutput GruDetector::forward(const Tensor& windows) const {
  const GruDetectorConfig& c = config_;
  KILN_CHECK(windows.dim() == 3 && windows.size(1) == c.window && windows.size(2) == c.feature_dim,
             "the GRU detector takes windows [B, {}, {}], got {}", c.window, c.feature_dim, windows.describe());
  const Tensor x = ops::linear(windows.to(DType::f32), param("input_projection.weight"), param("input_projection.bias"));
  const Tensor last = ops::gru(x, {}, param("gru.weight_ih_l0"), param("gru.weight_hh_l0"), param("gru.bias_ih_l0"),
                               param("gru.bias_hh_l0"))
                          .last;
  DetectorOutput out;
  out.current = ops::linear(last, param("classifier.weight"), param("classifier.bias"));
  return out;
}

DetectorLoss GruDetector::loss(const Tensor& windows, const Tensor& current) const {
  DetectorLoss loss;
  loss.current_loss = ops::cross_entropy(forward(windows).current, current.reshape({windows.size(0)}));
  loss.loss = loss.current_loss;
  return loss;
}

}  // namespace kiln::models
