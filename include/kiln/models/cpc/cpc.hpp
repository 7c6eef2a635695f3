#pragma once
// Contrastive Predictive Coding for audio (van den Oord et al. 2018,
// arXiv 1807.03748): g_enc, five strided 1-D convolutions (kernels 10,8,4,4,4,
// strides 5,4,2,2,2, paddings 3,2,1,1,1: one latent z_t every 160 samples),
// each followed by a per-frame LayerNorm over channels (CPC_audio's "channel
// norm"; optional) and ReLU; g_ar, a one-layer GRU giving contexts c_t; one
// linear predictor W_k per step k = 1..K; InfoNCE with negatives drawn from
// the batch.
// Parameters carry CPC_audio's names ("gEncoder.conv0.weight", "gAR.baseNet.
// weight_ih_l0", "wPrediction.predictors.3.weight").
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

inline constexpr std::array<int64_t, 5> kCpcKernels{10, 8, 4, 4, 4};
inline constexpr std::array<int64_t, 5> kCpcStrides{5, 4, 2, 2, 2};
inline constexpr std::array<int64_t, 5> kCpcPaddings{3, 2, 1, 1, 1};
inline constexpr int64_t kCpcDownsampling = 160;

enum class CpcNegatives {
  batch,          // any sequence of the batch, any time (CPC_audio's default, "mixed speaker")
  same_sequence,  // only the anchor's own sequence ("current sequence only")
};

struct CpcConfig {
  int64_t channels = 512;    // width of g_enc and of z
  int64_t context = 256;     // GRU hidden size, width of c
  int64_t steps = 12;        // K
  int64_t negatives = 128;   // N − 1 candidates besides the positive
  CpcNegatives sampling = CpcNegatives::batch;
  // Never draw the anchor's own future z_{t+1..t+K} as a negative (CPC_audio
  // only avoids z_t itself, so it can draw a positive as a negative).
  bool exclude_positives = true;
  bool channel_norm = true;
  bool mean_score = false;  // score = mean over channels of z·W_k c (CPC_audio) instead of the dot product
  double norm_eps = 1e-5;

  void validate() const;
  int64_t parameter_count() const;
};

// Frames g_enc makes of `samples` samples (floor arithmetic through the five convolutions).
int64_t cpc_frames(int64_t samples);

struct CpcLoss {
  Tensor loss;                    // mean InfoNCE over (batch, anchor t, step k)
  std::vector<double> accuracy;   // per step k = 1..K: share of anchors whose positive scores highest (ties: argmax picks it)
  std::vector<double> step_loss;  // per step k
};

// The negatives for every (sequence b, anchor t < S − K, draw n): flat indices
// b'·S + t' into the [B·S] latents, drawn with Philox from (seed, draw).
std::vector<int64_t> cpc_negative_indices(const CpcConfig& config, int64_t batch, int64_t frames, uint64_t seed,
                                          uint64_t draw);

class CpcModel {
 public:
  CpcModel(CpcConfig config, uint64_t seed);

  const CpcConfig& config() const { return config_; }
  std::map<std::string, Tensor>& parameters() { return parameters_; }
  const std::map<std::string, Tensor>& parameters() const { return parameters_; }
  void load_parameters(const std::map<std::string, Tensor>& weights);

  Tensor encode(const Tensor& waves) const;   // f32 [B, L] → z [B, S, channels]
  Tensor context(const Tensor& z) const;      // [B, S, channels] → c [B, S, context]
  // InfoNCE of a batch of windows with the given negatives (cpc_negative_indices).
  CpcLoss loss(const Tensor& waves, const std::vector<int64_t>& negatives) const;

 private:
  const Tensor& param(const std::string& name) const;

  CpcConfig config_;
  std::map<std::string, Tensor> parameters_;
};

}  // namespace kiln::models
