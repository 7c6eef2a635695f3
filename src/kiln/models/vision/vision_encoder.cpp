#include "kiln/models/vision/vision_encoder.hpp"

#include <fmt/format.h>

#include "kiln/autograd/ops/activation.hpp"
#include "kiln/autograd/ops/attention.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/embedding.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/autograd/ops/rope.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/models/parameters.hpp"
#include "kiln/models/vision/image_segments.hpp"
#include "kiln/models/vision/vision_positions.hpp"
#include "kiln/models/vision/window_attention.hpp"

namespace kiln::models {

namespace {

std::string block_prefix(int64_t layer) { return fmt::format("visual.blocks.{}.", layer); }

Tensor activation(const Tensor& x, VisionActivation kind) {
  if (kind == VisionActivation::quick_gelu) return ops::mul(x, ops::sigmoid(ops::scale(x, 1.702)));
  return ops::gelu(x);
}

// Columns of the integer grid [2, N] in `order` (column k is column order[k]).
Tensor permute_columns(const Tensor& grid, const std::vector<int64_t>& order) {
  const auto n = static_cast<int64_t>(order.size());
  const int64_t* in = grid.data<int64_t>();
  std::vector<int64_t> out(static_cast<size_t>(2 * n));
  for (int64_t k = 0; k < n; ++k) {
    out[static_cast<size_t>(k)] = in[order[static_cast<size_t>(k)]];
    out[static_cast<size_t>(n + k)] = in[n + order[static_cast<size_t>(k)]];
  }
  return Tensor::from<int64_t>(out, {2, n});
}

}  // namespace

VisionEncoder::VisionEncoder(VisionConfig config) : config_(std::move(config)) { config_.validate(); }

void VisionEncoder::add_parameters(std::map<std::string, Tensor>& params, uint64_t seed, uint64_t& stream) const {
  const VisionConfig& c = config_;
  const int64_t d = c.d_model, m = c.mlp_dim;
  const auto add = [&](const std::string& name, const Shape& shape, double std) {
    Tensor t = init_parameter(shape, std, seed, stream++);
    t.set_requires_grad(true);
    params[name] = t;
  };
  add("visual.patch_embed.proj.weight", {d, c.channels, c.patch_size, c.patch_size}, c.init_std);
  if (c.positions == VisionPositions::factorized || c.positions == VisionPositions::factorized_fractional) {
    add("visual.pos_embed_row.weight", {c.max_rows, d}, c.init_std);
    add("visual.pos_embed_col.weight", {c.max_cols, d}, c.init_std);
  } else if (c.positions == VisionPositions::learned) {
    add("visual.pos_embed.weight", {c.max_rows * c.max_cols, d}, c.init_std);
  }
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string p = block_prefix(l);
    add(p + "norm1.weight", {d}, 0);
    add(p + "norm1.bias", {d}, -1);
    add(p + "attn.qkv.weight", {3 * d, d}, c.init_std);
    add(p + "attn.qkv.bias", {3 * d}, -1);
    add(p + "attn.proj.weight", {d, d}, c.init_std);
    add(p + "attn.proj.bias", {d}, -1);
    add(p + "norm2.weight", {d}, 0);
    add(p + "norm2.bias", {d}, -1);
    add(p + "mlp.fc1.weight", {m, d}, c.init_std);
    add(p + "mlp.fc1.bias", {m}, -1);
    add(p + "mlp.fc2.weight", {d, m}, c.init_std);
    add(p + "mlp.fc2.bias", {d}, -1);
  }
}

Tensor VisionEncoder::forward(const std::map<std::string, Tensor>& params, const Tensor& patches, const Tensor& cu_v,
                              const Tensor& positions, const Tensor& key_padding_mask) const {
  const VisionConfig& c = config_;
  KILN_CHECK(patches.dim() == 2 && patches.size(1) == c.patch_dim() && patches.size(0) >= 1,
             "vision encoder: patches must be [tokens, {}] ({} channels × {}² px), got {}", c.patch_dim(), c.channels,
             c.patch_size, patches.describe());
  const int64_t n = patches.size(0), d = c.d_model, heads = c.n_head, dh = c.head_dim();
  const ImageSegments images = image_segments(cu_v, positions, n);
  const auto w = [&](const std::string& name) -> const Tensor& { return find_parameter(params, name); };

  Tensor x = ops::linear(patches, ops::reshape(w("visual.patch_embed.proj.weight"), {d, c.patch_dim()}));
  if (c.positions == VisionPositions::factorized)
    x = ops::add(x, factorized_positions(w("visual.pos_embed_row.weight"), w("visual.pos_embed_col.weight"), images));
  else if (c.positions == VisionPositions::factorized_fractional)
    x = ops::add(x, fractional_positions(w("visual.pos_embed_row.weight"), w("visual.pos_embed_col.weight"), images));
  else if (c.positions == VisionPositions::learned)
    x = ops::add(x, resized_grid_positions(ops::reshape(w("visual.pos_embed.weight"), {c.max_rows, c.max_cols, d}),
                                           images));

  // Qwen2-VL's 2D RoPE: the first head_dim/4 pairs (j, j + head_dim/2) turn
  // with the row, the next head_dim/4 with the column.
  const cpu::RopeSlots slots = cpu::vision_rope_slots(dh, c.rope_theta);
  Tensor grid = positions.to(DType::i64).contiguous();
  ops::AttentionOptions attention;
  int64_t rows = 1, length = n;  // attention's [rows, length] view of the tokens
  if (key_padding_mask.defined()) {
    rows = images.images();
    length = n / rows;
    KILN_CHECK(key_padding_mask.shape() == Shape({rows, length}) && length * rows == n,
               "vision encoder: a padding mask [{}, {}] is needed for {} images of {} tokens, got {}", rows, n / rows,
               rows, n, key_padding_mask.describe());
    for (int64_t i = 0; i < rows; ++i)
      KILN_CHECK(images.offsets[i + 1] - images.offsets[i] == length,
                 "vision encoder: padded images must all be {} tokens long", length);
    attention.key_padding_mask = key_padding_mask;
  } else {
    attention.cu_seqlens = Tensor::from<int64_t>(images.offsets, {images.images() + 1});
  }
  // Window attention: tokens (and their positions) in window order from here
  // to the output, where they return to merge order.
  ops::AttentionOptions windowed = attention;
  Tensor restore;
  if (c.window > 0) {
    KILN_CHECK(!key_padding_mask.defined(),
               "vision.window needs packed images (cu_v); the padded layout (train.layout = padded_all) has none");
    const WindowPartition windows = window_partition(images, c.merge_size, c.window);
    const Tensor order = Tensor::from<int64_t>(windows.index, {n});
    std::vector<int64_t> inverse(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) inverse[static_cast<size_t>(windows.index[static_cast<size_t>(k)])] = k;
    restore = Tensor::from<int64_t>(inverse, {n});
    x = ops::embedding(x, order);
    grid = permute_columns(grid, windows.index);
    windowed.cu_seqlens = Tensor::from<int64_t>(windows.cu_w, {static_cast<int64_t>(windows.cu_w.size())});
  }
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string p = block_prefix(l);
    const Tensor h = ops::layer_norm(x, w(p + "norm1.weight"), w(p + "norm1.bias"), c.norm_eps);
    // qkv rows are laid out [3, heads, dh], as Qwen2-VL's VisionAttention reshapes them.
    const Tensor qkv = ops::reshape(ops::linear(h, w(p + "attn.qkv.weight"), w(p + "attn.qkv.bias")), {1, n, 3, heads, dh});
    const auto part = [&](int64_t k) { return ops::reshape(ops::narrow(qkv, 2, k, 1), {rows, length, heads, dh}); };
    Tensor q = part(0), k = part(1);
    if (c.positions == VisionPositions::rope2d) {
      const Tensor angles = rows == 1 ? grid : grid.reshape({2, rows, length});
      q = ops::rope(q, angles, slots);
      k = ops::rope(k, angles, slots);
    }
    const Tensor attended = ops::reshape(ops::attention(q, k, part(2), c.windowed(l) ? windowed : attention), {n, d});
    x = ops::add(x, ops::linear(attended, w(p + "attn.proj.weight"), w(p + "attn.proj.bias")));
    const Tensor g = ops::layer_norm(x, w(p + "norm2.weight"), w(p + "norm2.bias"), c.norm_eps);
    const Tensor hidden = activation(ops::linear(g, w(p + "mlp.fc1.weight"), w(p + "mlp.fc1.bias")), c.hidden_act);
    x = ops::add(x, ops::linear(hidden, w(p + "mlp.fc2.weight"), w(p + "mlp.fc2.bias")));
  }
  return restore.defined() ? ops::embedding(x, restore) : x;
}

}  // namespace kiln::models
