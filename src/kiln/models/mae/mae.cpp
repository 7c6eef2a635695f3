#include "kiln/models/mae/mae.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/embedding.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/kernels/cpu/norm.hpp"
#include "kiln/models/parameters.hpp"

namespace kiln::models {

void MaeConfig::validate() const {
  encoder.validate();
  KILN_CHECK(std::all_of(encoder.tome_r.begin(), encoder.tome_r.end(), [](int64_t r) { return r == 0; }),
             "model.tome_r: token merging is for kiln vit; the MAE decoder needs one encoder token per visible patch");
  KILN_CHECK(mask_ratio >= 0 && mask_ratio < 1, "model.mask_ratio must be in [0, 1), got {}", mask_ratio);
  KILN_CHECK(decoder_dim >= 4 && decoder_dim % 4 == 0 && decoder_dim % decoder_heads == 0,
             "model.decoder_dim ({}) must be a multiple of 4 and of model.decoder_heads ({})", decoder_dim,
             decoder_heads);
  KILN_CHECK(decoder_layers >= 1 && decoder_mlp >= 1, "model.decoder_layers and decoder_mlp must be positive");
}

PatchMask mask_from_noise(const std::vector<float>& noise, int64_t batch, int64_t patches, double ratio) {
  KILN_CHECK(static_cast<int64_t>(noise.size()) == batch * patches, "mask noise has {} values, not {}", noise.size(),
             batch * patches);
  PatchMask m;
  m.batch = batch;
  m.patches = patches;
  m.keep = static_cast<int64_t>(static_cast<double>(patches) * (1.0 - ratio));  // truncation, as the reference
  m.ids_keep.resize(static_cast<size_t>(batch * m.keep));
  m.ids_restore.resize(static_cast<size_t>(batch * patches));
  m.mask = Tensor::zeros({batch, patches});
  std::vector<int64_t> order(static_cast<size_t>(patches));
  for (int64_t b = 0; b < batch; ++b) {
    std::iota(order.begin(), order.end(), 0);
    const float* n = noise.data() + b * patches;
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return n[x] < n[y]; });
    for (int64_t i = 0; i < patches; ++i) {
      m.ids_restore[b * patches + order[i]] = i;
      if (i < m.keep) m.ids_keep[b * m.keep + i] = order[i];
      else m.mask.data<float>()[b * patches + order[i]] = 1.0f;
    }
  }
  return m;
}

PatchMask random_patch_mask(int64_t batch, int64_t patches, double ratio, uint64_t seed, uint64_t draw) {
  std::vector<float> noise(static_cast<size_t>(batch * patches));
  const PhiloxKey key{seed, 0x6d61736bULL ^ draw};
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = philox_uniform(key, i);
  return mask_from_noise(noise, batch, patches, ratio);
}

Tensor gather_tokens(const Tensor& x, const std::vector<int64_t>& ids, int64_t k) {
  const int64_t b = x.size(0), l = x.size(1), d = x.size(2);
  std::vector<int64_t> flat(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) flat[i] = static_cast<int64_t>(i) / k * l + ids[i];
  return ops::reshape(ops::embedding(ops::reshape(x, {b * l, d}), Tensor::from<int64_t>(flat, {b * k})), {b, k, d});
}

namespace {

VitConfig encoder_config(VitConfig c) {
  c.sincos_positions = true;
  c.n_classes = 0;
  return c;
}

}  // namespace

MaeModel::MaeModel(MaeConfig config, uint64_t seed)
    : config_(std::move(config)), encoder_(encoder_config(config_.encoder), seed) {
  config_.encoder = encoder_.config();
  config_.validate();
  const VitConfig& e = config_.encoder;
  const int64_t dd = config_.decoder_dim;
  uint64_t stream = 1u << 20;  // apart from the encoder's streams
  parameters_ = encoder_.parameters();
  const auto add = [&](const std::string& name, const Shape& shape, double std) {
    Tensor t = init_parameter(shape, std, seed, stream++);
    t.set_requires_grad(true);
    parameters_[name] = t;
  };
  add("decoder.decoder_embed.weight", {dd, e.d_model}, e.init_std);
  add("decoder.decoder_embed.bias", {dd}, -1);
  add("decoder.mask_token", {1, 1, dd}, e.init_std);
  for (int64_t l = 0; l < config_.decoder_layers; ++l)
    add_vit_block_parameters(parameters_, fmt::format("decoder.decoder_layers.{}.", l), dd, config_.decoder_mlp,
                             e.init_std, seed, stream);
  add("decoder.decoder_norm.weight", {dd}, 0);
  add("decoder.decoder_norm.bias", {dd}, -1);
  add("decoder.decoder_pred.weight", {e.patch_dim(), dd}, e.init_std);
  add("decoder.decoder_pred.bias", {e.patch_dim()}, -1);
  decoder_positions_ = sincos_position_table(dd, e.grid()).reshape({1, e.patches() + 1, dd});
}

void MaeModel::load_parameters(const std::map<std::string, Tensor>& weights) {
  load_named_parameters(parameters_, weights, "this MAE");
  sync_encoder();
}

void MaeModel::sync_encoder() {
  for (auto& [name, t] : encoder_.parameters()) t = parameters_.at(name);  // share the very tensors
}

Tensor MaeModel::encode_visible(const Tensor& images, const PatchMask& mask) const {
  const Tensor tokens = encoder_.embed_patches(images);
  return encoder_.encode(gather_tokens(tokens, mask.ids_keep, mask.keep));
}

MaeOutput MaeModel::forward(const Tensor& images, const PatchMask& mask) const {
  const VitConfig& e = config_.encoder;
  const int64_t b = images.size(0), l = e.patches(), dd = config_.decoder_dim;
  KILN_CHECK(mask.batch == b && mask.patches == l, "the patch mask covers {}×{} patches, the batch has {}×{}",
             mask.batch, mask.patches, b, l);
  const auto p = [&](const std::string& name) -> const Tensor& { return parameters_.at(name); };
  const Tensor latent = encode_visible(images, mask);  // [B, 1 + keep, D]
  const Tensor y = ops::linear(latent, p("decoder.decoder_embed.weight"), p("decoder.decoder_embed.bias"));
  Tensor patches = ops::narrow(y, 1, 1, mask.keep);
  if (l > mask.keep)
    patches = ops::concat({patches, ops::expand(p("decoder.mask_token"), {b, l - mask.keep, dd})}, 1);
  const Tensor restored = gather_tokens(patches, mask.ids_restore, l);  // back to spatial order
  Tensor x = ops::add(ops::concat({ops::narrow(y, 1, 0, 1), restored}, 1), decoder_positions_);
  for (int64_t i = 0; i < config_.decoder_layers; ++i)
    x = vit_block(parameters_, fmt::format("decoder.decoder_layers.{}.", i), x, config_.decoder_heads, e.norm_eps);
  x = ops::layer_norm(x, p("decoder.decoder_norm.weight"), p("decoder.decoder_norm.bias"), e.norm_eps);
  MaeOutput out;
  out.pred = ops::narrow(ops::linear(x, p("decoder.decoder_pred.weight"), p("decoder.decoder_pred.bias")), 1, 1, l);
  out.target = patchify_hwc(images, e.patch_size);
  if (config_.norm_pix_loss) {
    // Per patch: (x − μ) / sqrt(σ² + 1e-6) with the unbiased variance, as the reference.
    cpu::standardize_rows(out.target.data<float>(), b * l, out.target.size(2), 1e-6);
  }
  const Tensor per_patch = ops::mean(ops::square(ops::sub(out.pred, out.target)), 2);  // [B, N]
  const double removed = static_cast<double>(b * l - b * mask.keep);
  KILN_CHECK(removed > 0, "MAE loss needs at least one masked patch (model.mask_ratio is too small)");
  out.loss = ops::scale(ops::sum(ops::mul(per_patch, mask.mask)), 1.0 / removed);
  return out;
}

}  // namespace kiln::models
