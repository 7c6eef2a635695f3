#pragma once
// Vision Transformer (Dosovitskiy et al., arXiv 2010.11929) and the pieces MAE
// shares with it: patch embedding as a linear map of each patch flattened in
// the conv-weight order (c, i, j), a class token, learned or fixed 2D sin-cos
// positions, pre-LN blocks, final LayerNorm, a linear head on the class
// token (or the mean of the patch tokens). Parameters carry Hugging Face
// ViT names ("vit.encoder.layer.0.attention.attention.query.weight").
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/models/vit/token_merging.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

struct VitConfig {
  int64_t image_size = 28;
  int64_t channels = 1;
  int64_t patch_size = 4;
  int64_t d_model = 64;
  int64_t n_layer = 6;
  int64_t n_head = 4;
  int64_t mlp_dim = 128;
  int64_t n_classes = 10;  // 0: no classifier (an MAE encoder)
  double norm_eps = 1e-6;
  bool sincos_positions = false;  // fixed 2D sin-cos table (MAE) instead of learned positions
  bool mean_pool = false;         // classify the mean of the patch tokens instead of the class token
  double init_std = 0.02;
  // ToMe's r per block (token_merging.hpp): how many tokens each block merges
  // away, clamped to what it can merge; layers past the list merge none.
  std::vector<int64_t> tome_r;

  int64_t grid() const { return image_size / patch_size; }
  int64_t patches() const { return grid() * grid(); }
  int64_t patch_dim() const { return channels * patch_size * patch_size; }
  void validate() const;  // kiln::Error naming the first bad field
  int64_t parameter_count() const;  // trainable parameters, head included
  int64_t tome_r_at(int64_t layer) const;
  // Tokens (class token included) entering each block with ToMe, then after
  // the last one: n_layer + 1 counts, from patches() + 1.
  std::vector<int64_t> token_counts() const;
  // Floating-point operations of one image's forward pass through the matrix
  // products (patch embedding, each block's projections, attention scores and
  // values, ToMe's similarity scores, MLP, classifier) at the token counts
  // ToMe leaves; element-wise work is left out.
  double forward_flops() const;
};

// images f32 [B, C, H, W] → [B, N, C·P·P], each patch flattened (c, i, j),
// patches in row-major grid order (the layout a stride-P conv would see).
Tensor patches_chw(const Tensor& images, int64_t patch);
// MAE's targets: [B, N, P·P·C] flattened (i, j, c); unpatchify inverts it.
Tensor patchify_hwc(const Tensor& images, int64_t patch);
Tensor unpatchify_hwc(const Tensor& patches, int64_t patch, int64_t channels);
// The fixed 2D sin-cos table of MAE (first half: column, second: row),
// [1 + grid², dim] with an all-zero first row for the class token.
Tensor sincos_position_table(int64_t dim, int64_t grid);

// One pre-LN block: x + MHSA(LN(x)), then x + MLP(LN(x)) with erf GELU.
// `prefix` names the block ("vit.encoder.layer.3.").
Tensor vit_block(const std::map<std::string, Tensor>& params, const std::string& prefix, const Tensor& x,
                 int64_t n_head, double eps);
// The same block with ToMe as its timm patch applies it: attention adds
// ln(size) of each key to its logits (when tokens have sizes), then
// tome_merges(r, t, class token) tokens are merged before the MLP. The class
// token is token 0. r = 0 with undefined sizes is exactly the block above.
SizedTokens vit_block(const std::map<std::string, Tensor>& params, const std::string& prefix,
                      const SizedTokens& tokens, int64_t n_head, double eps, int64_t r);
// Adds the parameters of one such block (width d, MLP width m) under `prefix`.
void add_vit_block_parameters(std::map<std::string, Tensor>& params, const std::string& prefix, int64_t d,
                              int64_t m, double std, uint64_t seed, uint64_t& stream);

class VitModel {
 public:
  VitModel(VitConfig config, uint64_t seed);

  const VitConfig& config() const { return config_; }
  std::map<std::string, Tensor>& parameters() { return parameters_; }
  const std::map<std::string, Tensor>& parameters() const { return parameters_; }
  void load_parameters(const std::map<std::string, Tensor>& weights);

  // Patch tokens with their positions added: [B, N, D].
  Tensor embed_patches(const Tensor& images) const;
  // Class token (with its position) prepended to `tokens` [B, n, D], then the
  // blocks and the final norm: [B, n + 1, D]. MAE passes only visible tokens.
  Tensor encode(const Tensor& tokens) const;
  // As encode, with the merging of config().tome_r: [B, n + 1 − merged, D]
  // and the tokens' sizes (undefined when nothing was merged).
  SizedTokens encode_merging(const Tensor& tokens) const;
  // Pooled [B, D]: the class token, or the mean of the other tokens weighted
  // by their sizes (ToMe's global pool; the plain mean without merging).
  Tensor features(const Tensor& images) const;
  Tensor logits(const Tensor& images) const;    // [B, classes]
  // Mean cross-entropy against labels i64 [B].
  Tensor loss(const Tensor& images, const Tensor& labels, double label_smoothing = 0) const;

 private:
  const Tensor& param(const std::string& name) const;
  Tensor position_table() const;  // [1, N + 1, D]

  VitConfig config_;
  std::map<std::string, Tensor> parameters_;
  Tensor fixed_positions_;  // sin-cos table when config_.sincos_positions (not trained)
};

}  // namespace kiln::models
