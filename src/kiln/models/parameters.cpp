#include "kiln/models/parameters.hpp"

#include "kiln/base/error.hpp"

namespace kiln::models {

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
