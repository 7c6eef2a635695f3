#pragma once
// OadTR, online action detection with Transformers (Wang et al., ICCV 2021,
// arXiv 2106.11149), as in the reference code's (wangxiang1230/OadTR)
// VisionTransformer_v3: the last T frame features are projected to d_model, a
// task token is appended at the END, learned positions added; pre-LN encoder
// blocks (qkv without bias, MLP of width ffn_dim with GELU) and a final
// LayerNorm; a post-LN decoder of learnable zero-initialised queries (causal
// self-attention, cross-attention to all T+1 encoder tokens, a GELU
// feed-forward) anticipates the next frames; the current frame is classified
// from the task token joined with the mean of the decoded queries. Also the
// GRU baseline over the same window.
#include <cstdint>
#include <map>
#include <string>

#include "kiln/base/philox.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

struct OadtrConfig {
  int64_t feature_dim = 40;
  int64_t window = 64;      // T: frames of history, the current frame last
  int64_t d_model = 128;
  int64_t enc_layers = 3;
  int64_t enc_heads = 8;
  int64_t ffn_dim = 128;    // encoder MLP width (the source uses d_model: ratio 1)
  int64_t dec_layers = 5;
  int64_t dec_heads = 4;
  int64_t dec_ffn = 128;
  int64_t queries = 8;      // ℓd: future frames anticipated
  int64_t classes = 11;     // background = 0
  double dropout = 0.1;
  double future_weight = 0.5;  // L = CE(current) + future_weight · mean CE(future)
  double norm_eps = 1e-5;

  void validate() const;
  int64_t parameter_count() const;
};

struct DetectorOutput {
  Tensor current;  // [B, classes]
  Tensor future;   // [B, queries, classes] (undefined for the GRU baseline)
};

struct DetectorLoss {
  Tensor loss, current_loss, future_loss;
};

class OadtrModel {
 public:
  OadtrModel(OadtrConfig config, uint64_t seed);

  const OadtrConfig& config() const { return config_; }
  std::map<std::string, Tensor>& parameters() { return parameters_; }
  const std::map<std::string, Tensor>& parameters() const { return parameters_; }
  void load_parameters(const std::map<std::string, Tensor>& weights);

  // windows f32 [B, T, feature_dim]; dropout drawn from `key` when training.
  DetectorOutput forward(const Tensor& windows, bool training = false, const PhiloxKey& key = {}) const;
  // current i64 [B]; future i64 [B, queries] (−100 = no target).
  DetectorLoss loss(const Tensor& windows, const Tensor& current, const Tensor& future, bool training = false,
                    const PhiloxKey& key = {}) const;

 private:
  const Tensor& param(const std::string& name) const;

  OadtrConfig config_;
  std::map<std::string, Tensor> parameters_;
};

struct GruDetectorConfig {
  int64_t feature_dim = 40;
  int64_t window = 64;
  int64_t hidden = 128;
  int64_t classes = 11;
  void validate() const;
};

// Baseline: a linear projection to `hidden`, a GRU over the window, a linear
// classifier of the last hidden state (the current frame).
class GruDetector {
 public:
  GruDetector(GruDetectorConfig config, uint64_t seed);

  const GruDetectorConfig& config() const { return config_; }
  std::map<std::string, Tensor>& parameters() { return parameters_; }
  const std::map<std::string, Tensor>& parameters() const { return parameters_; }
  void load_parameters(const std::map<std::string, Tensor>& weights);

  DetectorOutput forward(const Tensor& windows) const;
  DetectorLoss loss(const Tensor& windows, const Tensor& current) const;

 private:
  const Tensor& param(const std::string& name) const;

  GruDetectorConfig config_;
  std::map<std::string, Tensor> parameters_;
};

}  // namespace kiln::models
