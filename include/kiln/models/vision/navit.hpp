#pragma once
// NaViT's packed image classifier (SPEC-VLM §1.3, §7.1 task (a)): the
// native-resolution vision encoder over a pack of images of any sizes, each
// image's tokens averaged (big_vision's NaFlex pools with its mask the same
// way), a LayerNorm (the encoder has no final norm) and a linear layer:
// kiln-only parameters classifier.norm.{weight,bias} and classifier.{weight,bias}.
#include <cstdint>
#include <map>
#include <string>

#include "kiln/models/vision/image_pack.hpp"
#include "kiln/models/vision/vision_encoder.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

struct NavitConfig {
  VisionConfig vision;
  int64_t n_classes = 10;

  void validate() const;
  int64_t parameter_count() const;
};

class NavitModel {
 public:
  NavitModel(NavitConfig config, uint64_t seed);

  const NavitConfig& config() const { return config_; }
  const VisionEncoder& encoder() const { return encoder_; }
  std::map<std::string, Tensor>& parameters() { return parameters_; }
  const std::map<std::string, Tensor>& parameters() const { return parameters_; }
  void load_parameters(const std::map<std::string, Tensor>& weights);

  Tensor features(const ImagePackTensors& pack) const;  // mean of each image's tokens, normalised: [images, D]
  Tensor logits(const ImagePackTensors& pack) const;    // [images, classes]
  // Summed cross-entropy over the pack's images (a trainer divides by the step's image count).
  Tensor loss_sum(const ImagePackTensors& pack, const Tensor& labels) const;

 private:
  NavitConfig config_;
  VisionEncoder encoder_;
  std::map<std::string, Tensor> parameters_;
};

}  // namespace kiln::models
