#include "kiln/models/vit/vit.hpp"

#include <cmath>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/activation.hpp"
#include "kiln/autograd/ops/attention.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/kernels/cpu/patchify.hpp"
#include "kiln/models/parameters.hpp"

namespace kiln::models {

void VitConfig::validate() const {
  KILN_CHECK(image_size >= 1 && patch_size >= 1 && image_size % patch_size == 0,
             "model.image_size ({}) must be a positive multiple of model.patch_size ({})", image_size, patch_size);
  KILN_CHECK(channels >= 1 && channels <= 4, "model.channels must be 1 to 4, got {}", channels);
  KILN_CHECK(d_model >= 1 && n_head >= 1 && d_model % n_head == 0,
             "model.d_model ({}) must be a positive multiple of model.n_head ({})", d_model, n_head);
  KILN_CHECK(!sincos_positions || d_model % 4 == 0, "sin-cos positions need model.d_model divisible by 4, got {}",
             d_model);
  KILN_CHECK(n_layer >= 1 && mlp_dim >= 1, "model.n_layer and model.mlp_dim must be positive");
  KILN_CHECK(n_classes >= 0, "model.n_classes must not be negative");
  KILN_CHECK(static_cast<int64_t>(tome_r.size()) <= n_layer, "model.tome_r lists {} layers, the model has {}",
             tome_r.size(), n_layer);
  for (int64_t r : tome_r) KILN_CHECK(r >= 0, "model.tome_r must not be negative, got {}", r);
}

int64_t VitConfig::tome_r_at(int64_t layer) const {
  return layer < static_cast<int64_t>(tome_r.size()) ? tome_r[static_cast<size_t>(layer)] : 0;
}

std::vector<int64_t> VitConfig::token_counts() const {
  std::vector<int64_t> counts{patches() + 1};
  for (int64_t l = 0; l < n_layer; ++l) counts.push_back(counts.back() - tome_merges(tome_r_at(l), counts.back(), true));
  return counts;
}

double VitConfig::forward_flops() const {
  const auto d = static_cast<double>(d_model), m = static_cast<double>(mlp_dim), dh = d / static_cast<double>(n_head);
  const std::vector<int64_t> counts = token_counts();
  double macs = static_cast<double>(patches() * patch_dim()) * d + d * static_cast<double>(n_classes);
  for (int64_t l = 0; l < n_layer; ++l) {
    const auto t = static_cast<double>(counts[l]), kept = static_cast<double>(counts[l + 1]);
    macs += 4 * t * d * d + 2 * t * t * d + 2 * kept * d * m;
    if (kept < t) macs += std::ceil(t / 2) * std::floor(t / 2) * dh;  // ToMe's similarity scores
  }
  return 2 * macs;
}

int64_t VitConfig::parameter_count() const {
  const int64_t d = d_model, m = mlp_dim;
  const int64_t block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * m + m) + (m * d + d);
  return patch_dim() * d + d + d + (sincos_positions ? 0 : (patches() + 1) * d) + n_layer * block + 2 * d +
         (n_classes > 0 ? d * n_classes + n_classes : 0);
}

namespace {

Tensor patchify_images(const Tensor& images, int64_t p, cpu::PatchLayout layout) {
  KILN_CHECK(images.dim() == 4 && images.size(2) % p == 0 && images.size(3) % p == 0,
             "images must be [B, C, H, W] with H and W multiples of the patch size {}, got {}", p, images.describe());
  const Tensor x = images.to(DType::f32).contiguous();
  const cpu::ImageGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), p};
  Tensor out = Tensor::empty({g.batch, (g.height / p) * (g.width / p), g.channels * p * p});
  cpu::patchify(x.data<float>(), g, layout, out.data<float>());
  return out;
}

}  // namespace

Tensor patches_chw(const Tensor& images, int64_t p) { return patchify_images(images, p, cpu::PatchLayout::chw); }

Tensor patchify_hwc(const Tensor& images, int64_t p) { return patchify_images(images, p, cpu::PatchLayout::hwc); }

Tensor unpatchify_hwc(const Tensor& patches, int64_t p, int64_t c) {
  const int64_t b = patches.size(0), n = patches.size(1);
  const auto g = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(n))));
  KILN_CHECK(patches.dim() == 3 && g * g == n && patches.size(2) == p * p * c,
             "unpatchify: expected [B, g², {}] patches, got {}", p * p * c, patches.describe());
  const Tensor x = patches.contiguous();
  Tensor out = Tensor::empty({b, c, g * p, g * p});
  cpu::unpatchify(x.data<float>(), {b, c, g * p, g * p, p}, cpu::PatchLayout::hwc, out.data<float>());
  return out;
}

Tensor sincos_position_table(int64_t dim, int64_t grid) {
  KILN_CHECK(dim % 4 == 0, "sin-cos positions need a width divisible by 4, got {}", dim);
  Tensor table = Tensor::zeros({1 + grid * grid, dim});
  float* t = table.data<float>();
  const int64_t half = dim / 2, quarter = dim / 4;
  for (int64_t row = 0; row < grid; ++row)
    for (int64_t col = 0; col < grid; ++col) {
      float* out = t + (1 + row * grid + col) * dim;
      for (int64_t i = 0; i < quarter; ++i) {
        const double omega = 1.0 / std::pow(10000.0, static_cast<double>(i) / static_cast<double>(quarter));
        out[i] = static_cast<float>(std::sin(static_cast<double>(col) * omega));
        out[quarter + i] = static_cast<float>(std::cos(static_cast<double>(col) * omega));
        out[half + i] = static_cast<float>(std::sin(static_cast<double>(row) * omega));
        out[half + quarter + i] = static_cast<float>(std::cos(static_cast<double>(row) * omega));
      }
    }
  return table;
}

void add_vit_block_parameters(std::map<std::string, Tensor>& params, const std::string& p, int64_t d, int64_t m,
                              double std, uint64_t seed, uint64_t& stream) {
  const auto add = [&](const std::string& name, const Shape& shape, double s) {
    Tensor t = init_parameter(shape, s, seed, stream++);
    t.set_requires_grad(true);
    params[p + name] = t;
  };
  add("layernorm_before.weight", {d}, 0);
  add("layernorm_before.bias", {d}, -1);
  for (const char* proj : {"query", "key", "value"}) {
    add(std::string("attention.attention.") + proj + ".weight", {d, d}, std);
    add(std::string("attention.attention.") + proj + ".bias", {d}, -1);
  }
  add("attention.output.dense.weight", {d, d}, std);
  add("attention.output.dense.bias", {d}, -1);
  add("layernorm_after.weight", {d}, 0);
  add("layernorm_after.bias", {d}, -1);
  add("intermediate.dense.weight", {m, d}, std);
  add("intermediate.dense.bias", {m}, -1);
  add("output.dense.weight", {d, m}, std);
  add("output.dense.bias", {d}, -1);
}

Tensor vit_block(const std::map<std::string, Tensor>& params, const std::string& p, const Tensor& x, int64_t n_head,
                 double eps) {
  return vit_block(params, p, SizedTokens{x, Tensor()}, n_head, eps, 0).x;
}

SizedTokens vit_block(const std::map<std::string, Tensor>& params, const std::string& p, const SizedTokens& tokens,
                      int64_t n_head, double eps, int64_t r) {
  const auto w = [&](const std::string& name) -> const Tensor& {
    auto it = params.find(p + name);
    KILN_CHECK(it != params.end(), "model has no parameter '{}{}'", p, name);
    return it->second;
  };
  const Tensor& x = tokens.x;
  const int64_t b = x.size(0), t = x.size(1), d = x.size(2), dh = d / n_head;
  const Tensor h = ops::layer_norm(x, w("layernorm_before.weight"), w("layernorm_before.bias"), eps);
  const auto project = [&](const char* name) {
    const std::string base = std::string("attention.attention.") + name;
    return ops::reshape(ops::linear(h, w(base + ".weight"), w(base + ".bias")), {b, t, n_head, dh});
  };
  const Tensor keys = project("key");
  ops::AttentionOptions attention;
  attention.key_bias = proportional_attention_bias(tokens.sizes);
  const Tensor attended = ops::attention(project("query"), keys, project("value"), attention);
  SizedTokens merged{ops::add(x, ops::linear(ops::reshape(attended, {b, t, d}), w("attention.output.dense.weight"),
                                             w("attention.output.dense.bias"))),
                     tokens.sizes};
  if (const int64_t merges = tome_merges(r, t, true); merges > 0) {
    Tensor metric;
    {
      NoGradGuard no_grad;
      metric = ops::mean(keys.detach(), 2);  // [B, t, dh]: ToMe's k.mean over heads
    }
    merged = merge_tokens(merged, metric, merges, true);
  }
  const Tensor& y = merged.x;
  const Tensor g = ops::layer_norm(y, w("layernorm_after.weight"), w("layernorm_after.bias"), eps);
  const Tensor hidden = ops::gelu(ops::linear(g, w("intermediate.dense.weight"), w("intermediate.dense.bias")));
  return {ops::add(y, ops::linear(hidden, w("output.dense.weight"), w("output.dense.bias"))), merged.sizes};
}

VitModel::VitModel(VitConfig config, uint64_t seed) : config_(std::move(config)) {
  config_.validate();
  const VitConfig& c = config_;
  const int64_t d = c.d_model;
  uint64_t stream = 0;
  const auto add = [&](const std::string& name, const Shape& shape, double std) {
    Tensor t = init_parameter(shape, std, seed, stream++);
    t.set_requires_grad(true);
    parameters_[name] = t;
  };
  add("vit.embeddings.cls_token", {1, 1, d}, c.init_std);
  if (c.sincos_positions)
    fixed_positions_ = sincos_position_table(d, c.grid()).reshape({1, c.patches() + 1, d});
  else
    add("vit.embeddings.position_embeddings", {1, c.patches() + 1, d}, c.init_std);
  add("vit.embeddings.patch_embeddings.projection.weight", {d, c.channels, c.patch_size, c.patch_size}, c.init_std);
  add("vit.embeddings.patch_embeddings.projection.bias", {d}, -1);
  for (int64_t l = 0; l < c.n_layer; ++l)
    add_vit_block_parameters(parameters_, fmt::format("vit.encoder.layer.{}.", l), d, c.mlp_dim, c.init_std, seed,
                             stream);
  add("vit.layernorm.weight", {d}, 0);
  add("vit.layernorm.bias", {d}, -1);
  if (c.n_classes > 0) {
    add("classifier.weight", {c.n_classes, d}, c.init_std);
    add("classifier.bias", {c.n_classes}, -1);
  }
}

void VitModel::load_parameters(const std::map<std::string, Tensor>& weights) {
  load_named_parameters(parameters_, weights, "this ViT");
}

const Tensor& VitModel::param(const std::string& name) const {
  return find_parameter(parameters_, name);
}

Tensor VitModel::position_table() const {
  return config_.sincos_positions ? fixed_positions_ : param("vit.embeddings.position_embeddings");
}

Tensor VitModel::embed_patches(const Tensor& images) const {
  const VitConfig& c = config_;
  KILN_CHECK(images.dim() == 4 && images.size(1) == c.channels && images.size(2) == c.image_size &&
                 images.size(3) == c.image_size,
             "the model takes images [B, {}, {}, {}], got {}", c.channels, c.image_size, c.image_size,
             images.describe());
  const Tensor patches = patches_chw(images, c.patch_size);
  const Tensor weight = ops::reshape(param("vit.embeddings.patch_embeddings.projection.weight"), {c.d_model, c.patch_dim()});
  const Tensor x = ops::linear(patches, weight, param("vit.embeddings.patch_embeddings.projection.bias"));
  return ops::add(x, ops::narrow(position_table(), 1, 1, c.patches()));
}

Tensor VitModel::encode(const Tensor& tokens) const { return encode_merging(tokens).x; }

SizedTokens VitModel::encode_merging(const Tensor& tokens) const {
  const VitConfig& c = config_;
  const int64_t b = tokens.size(0);
  const Tensor cls = ops::add(param("vit.embeddings.cls_token"), ops::narrow(position_table(), 1, 0, 1));
  SizedTokens x{ops::concat({ops::expand(cls, {b, 1, c.d_model}), tokens}, 1), Tensor()};
  for (int64_t l = 0; l < c.n_layer; ++l)
    x = vit_block(parameters_, fmt::format("vit.encoder.layer.{}.", l), x, c.n_head, c.norm_eps, c.tome_r_at(l));
  x.x = ops::layer_norm(x.x, param("vit.layernorm.weight"), param("vit.layernorm.bias"), c.norm_eps);
  return x;
}

Tensor VitModel::features(const Tensor& images) const {
  const SizedTokens encoded = encode_merging(embed_patches(images));
  if (config_.mean_pool) return size_weighted_mean(encoded, 1);
  return ops::reshape(ops::narrow(encoded.x, 1, 0, 1), {encoded.x.size(0), config_.d_model});
}

Tensor VitModel::logits(const Tensor& images) const {
  return ops::linear(features(images), param("classifier.weight"), param("classifier.bias"));
}

Tensor VitModel::loss(const Tensor& images, const Tensor& labels, double label_smoothing) const {
  ops::CrossEntropyOptions options;
  options.label_smoothing = label_smoothing;
  return ops::cross_entropy(logits(images), labels, options);
}

}  // namespace kiln::models
