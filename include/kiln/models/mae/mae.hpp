#pragma once
// Masked autoencoder (He et al. 2022, arXiv 2111.06377): per-sample random
// masking by argsort of noise, a ViT encoder over the visible patches only,
// a light decoder that adds mask tokens and fixed 2D sin-cos positions, and
// the MSE on the masked patches (optionally of per-patch normalised pixels).
// Parameters carry Hugging Face ViTMAE names ("decoder.decoder_layers.0…").
#include <cstdint>
#include <vector>

#include "kiln/models/vit/vit.hpp"

namespace kiln::models {

struct MaeConfig {
  VitConfig encoder;  // sincos_positions is forced on, n_classes to 0
  int64_t decoder_dim = 64;
  int64_t decoder_layers = 2;
  int64_t decoder_heads = 4;
  int64_t decoder_mlp = 128;
  double mask_ratio = 0.75;
  bool norm_pix_loss = false;
  void validate() const;
};

// Which patches each sample keeps: ids_keep in noise order, ids_restore the
// inverse permutation, mask 1 = removed (in spatial order).
struct PatchMask {
  int64_t batch = 0, patches = 0, keep = 0;
  std::vector<int64_t> ids_keep;     // [batch · keep]
  std::vector<int64_t> ids_restore;  // [batch · patches]
  Tensor mask;                       // f32 [batch, patches]
};
PatchMask mask_from_noise(const std::vector<float>& noise, int64_t batch, int64_t patches, double ratio);
PatchMask random_patch_mask(int64_t batch, int64_t patches, double ratio, uint64_t seed, uint64_t draw);

struct MaeOutput {
  Tensor loss;    // scalar
  Tensor pred;    // [B, N, P·P·C], in target space (normalised when norm_pix_loss)
  Tensor target;  // [B, N, P·P·C]
};

class MaeModel {
 public:
  MaeModel(MaeConfig config, uint64_t seed);
  const MaeConfig& config() const { return config_; }
  std::map<std::string, Tensor>& parameters() { return parameters_; }
  const std::map<std::string, Tensor>& parameters() const { return parameters_; }
  void load_parameters(const std::map<std::string, Tensor>& weights);
  const VitModel& encoder() const { return encoder_; }

  MaeOutput forward(const Tensor& images, const PatchMask& mask) const;
  // The encoder alone over the kept patches (what the masking saves).
  Tensor encode_visible(const Tensor& images, const PatchMask& mask) const;

 private:
  void sync_encoder();
  MaeConfig config_;
  VitModel encoder_;
  std::map<std::string, Tensor> parameters_;
  Tensor decoder_positions_;  // fixed [1, N + 1, D_dec]
};

// Gathers rows of x [B, L, D] by per-sample indices (ids [B · k] into 0..L−1) → [B, k, D].
Tensor gather_tokens(const Tensor& x, const std::vector<int64_t>& ids, int64_t k);

}  // namespace kiln::models
