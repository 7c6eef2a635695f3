#include "kiln/models/vision/navit.hpp"

#include <algorithm>
#include <utility>

#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/embedding.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/base/error.hpp"
#include "kiln/models/parameters.hpp"
#include "kiln/models/vision/image_segments.hpp"

namespace kiln::models {

void NavitConfig::validate() const {
  vision.validate();
  KILN_CHECK(n_classes >= 1, "model.n_classes must be positive, got {}", n_classes);
}

int64_t NavitConfig::parameter_count() const {
  const int64_t d = vision.d_model;
  return vision.parameter_count() + 2 * d + n_classes * d + n_classes;
}

NavitModel::NavitModel(NavitConfig config, uint64_t seed)
    : config_(std::move(config)), encoder_(config_.vision) {
  config_.validate();
  uint64_t stream = 0;
  encoder_.add_parameters(parameters_, seed, stream);
  const int64_t d = config_.vision.d_model, k = config_.n_classes;
  const auto add = [&](const std::string& name, const Shape& shape, double std) {
    Tensor t = init_parameter(shape, std, seed, stream++);
    t.set_requires_grad(true);
    parameters_[name] = t;
  };
  add("classifier.norm.weight", {d}, 0);
  add("classifier.norm.bias", {d}, -1);
  add("classifier.weight", {k, d}, config_.vision.init_std);
  add("classifier.bias", {k}, -1);
}

void NavitModel::load_parameters(const std::map<std::string, Tensor>& weights) {
  load_named_parameters(parameters_, weights, "this NaViT classifier");
}

Tensor NavitModel::features(const ImagePackTensors& pack) const {
  const Tensor tokens = encoder_.forward(parameters_, pack.patches, pack.cu_v, pack.positions);
  const ImageSegments images = image_segments(pack.cu_v, pack.positions, tokens.size(0));
  std::vector<int64_t> image_of_token(static_cast<size_t>(images.tokens()));
  std::vector<double> inverse_count(static_cast<size_t>(images.images()));
  for (int64_t i = 0; i < images.images(); ++i) {
    const int64_t begin = images.offsets[static_cast<size_t>(i)], end = images.offsets[static_cast<size_t>(i) + 1];
    std::fill(image_of_token.begin() + begin, image_of_token.begin() + end, i);
    inverse_count[static_cast<size_t>(i)] = 1.0 / static_cast<double>(end - begin);
  }
  const Tensor sums = ops::scatter_add_rows(
      tokens, Tensor::from<int64_t>(image_of_token, {images.tokens()}), images.images());
  const Tensor means =
      ops::mul(sums, Tensor::from<double>(inverse_count, {images.images(), 1}).to(tokens.dtype()));
  return ops::layer_norm(means, find_parameter(parameters_, "classifier.norm.weight"),
                         find_parameter(parameters_, "classifier.norm.bias"), config_.vision.norm_eps);
}

Tensor NavitModel::logits(const ImagePackTensors& pack) const {
  return ops::linear(features(pack), find_parameter(parameters_, "classifier.weight"),
                     find_parameter(parameters_, "classifier.bias"));
}

Tensor NavitModel::loss_sum(const ImagePackTensors& pack, const Tensor& labels) const {
  return ops::cross_entropy_sum(logits(pack), labels).sum;
}

}  // namespace kiln::models
