#include "kiln/models/parameters.hpp"

#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"

namespace kiln::models {

Tensor uniform_parameter(const Shape& shape, double bound, uint64_t seed, uint64_t stream) {
  Tensor t = Tensor::empty(shape);
  const PhiloxKey key{seed, stream};
  float* data = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    data[i] = static_cast<float>(bound * (2.0 * philox_uniform(key, static_cast<uint64_t>(i)) - 1.0));
  t.set_requires_grad(true);
  return t;
}

Tensor init_parameter(const Shape& shape, double std, uint64_t seed, uint64_t stream) {
  if (std <= 0) return Tensor::full(shape, std == 0 ? 1.0 : 0.0);
  Tensor t = Tensor::empty(shape);
  const PhiloxKey key{seed, stream};
  float* data = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) data[i] = static_cast<float>(std) * philox_normal(key, static_cast<uint64_t>(i));
  return t;
}

const Tensor& find_parameter(const std::map<std::string, Tensor>& parameters, const std::string& name) {
  auto it = parameters.find(name);
  KILN_CHECK(it != parameters.end(), "model has no parameter '{}'", name);
  return it->second;
}

void load_named_parameters(std::map<std::string, Tensor>& parameters, const std::map<std::string, Tensor>& weights,
                           const std::string& model, bool partial) {
  for (const auto& [name, tensor] : weights)
    KILN_CHECK(parameters.count(name) != 0, "checkpoint has tensor '{}', which {} does not have", name, model);
  for (auto& [name, param] : parameters) {
    auto it = weights.find(name);
    if (it == weights.end()) {
      KILN_CHECK(partial, "checkpoint lacks tensor '{}'", name);
      continue;
    }
    KILN_CHECK(it->second.shape() == param.shape(), "checkpoint tensor '{}' is {}, the model expects {}", name,
               it->second.describe(), param.describe());
    Tensor value = it->second.to(DType::f32).contiguous().clone();
    value.set_requires_grad(param.requires_grad());
    param = value;
  }
}

}  // namespace kiln::models
