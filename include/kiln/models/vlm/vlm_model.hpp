#pragma once
// A small Qwen2-VL-shaped vision-language model (SPEC-VLM §5):
//
//   images → merge-ordered patches → vision encoder (2-D RoPE, attention inside
//     each image) → projector (2×2 PatchMerger by default) → features [Σ n_i/m², D]
//   text ids → embeddings, the k-th <|image_pad|> row replaced by the k-th
//     feature row → LLaMA blocks with M-RoPE → RMSNorm → lm_head
//
// The scatter is HF's masked_scatter written as E·(1 − mask) +
// scatter_add_rows(features), so the <|image_pad|> embedding row gets exactly
// zero gradient. One parameter map holds everything under Qwen2-VL's names
// ("visual.blocks.0.attn.qkv.weight", "visual.merger.mlp.0.weight",
// "model.layers.0.self_attn.q_proj.weight", "lm_head.weight").
#include <map>
#include <string>
#include <vector>

#include "kiln/data/vlm_batch.hpp"
#include "kiln/models/gpt/model.hpp"
#include "kiln/models/vision/vision_encoder.hpp"
#include "kiln/models/vlm/vlm_config.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

struct VlmOptions {
  // Divide the summed loss by this many targets instead of the batch's own
  // count (token-weighted gradient accumulation over an optimizer step).
  int64_t loss_normalizer = 0;
  bool blind = false;  // zero the image features: the language-prior baseline
  // The encoder runs without recording gradients: its parameters stay as
  // loaded (the optimizer skips parameters without a gradient) and the
  // backward pass stops at the projector.
  bool freeze_vision = false;
  bool gradient_checkpointing = false;
};

class VlmModel {
 public:
  VlmModel(VlmConfig config, uint64_t seed);

  const VlmConfig& config() const { return config_; }
  std::map<std::string, Tensor>& parameters() { return parameters_; }
  const std::map<std::string, Tensor>& parameters() const { return parameters_; }
  // Every parameter from `weights`; missing, unexpected or mis-shaped names are one error naming the tensor.
  void load_parameters(const std::map<std::string, Tensor>& weights);
  // The vision encoder's parameters (visual.* without the projector) from a
  // vision checkpoint such as a kiln navit run, the usual recipe's trained
  // ViT; other tensors there (a classifier head) are ignored. Every encoder
  // tensor must be present with its shape, and no other visual.* tensor.
  void load_vision_encoder(const std::map<std::string, Tensor>& weights, const std::string& source);

  // Encoder + projector: [N_v / patches_per_token, D].
  Tensor image_features(const Tensor& patches, const Tensor& cu_v, const Tensor& positions) const;
  // Token embeddings [rows, T, D] with `features` in the placeholder rows
  // (flat indices into rows·T, one per feature row, in order).
  Tensor input_embeddings(const Tensor& tokens, const Tensor& placeholder_rows, const Tensor& features) const;

  Tensor logits(const data::VlmBatch& batch, const VlmOptions& options = {}) const;  // [rows, T, V]
  // Σ cross-entropy over the batch's targets / (loss_normalizer or its own count).
  Tensor loss(const data::VlmBatch& batch, const VlmOptions& options = {}) const;

  // Greedy answer to `images` and `prompt`, at most `max_new` bytes, stopping at <|endoftext|>.
  std::string generate(const std::vector<data::SampleImage>& images, const std::string& prompt, int64_t max_new,
                       bool blind = false) const;

 private:
  DecoderBatch decoder_batch(const data::VlmBatch& batch, const VlmOptions& options) const;
  void collect_parameters();

  VlmConfig config_;
  VisionEncoder encoder_;
  GptModel decoder_;
  std::map<std::string, Tensor> vision_parameters_;  // visual.* (encoder and projector)
  std::map<std::string, Tensor> parameters_;         // vision_parameters_ and the decoder's, one map
};

}  // namespace kiln::models
