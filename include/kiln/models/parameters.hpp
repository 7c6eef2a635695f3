#pragma once
// Making, finding and loading the named parameters every model holds.
#include <cstdint>
#include <map>
#include <string>

#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

// U(−bound, bound) from Philox (seed, stream), requires_grad set: PyTorch's
// default initialisation of Linear, Conv1d and GRU weights (bound 1/√fan_in).
Tensor uniform_parameter(const Shape& shape, double bound, uint64_t seed, uint64_t stream);

// normal(0, std²) from Philox (seed, stream) for std > 0, ones for std == 0,
// zeros for std < 0 (so one table of stds describes a whole model's init).
Tensor init_parameter(const Shape& shape, double std, uint64_t seed, uint64_t stream);

// The parameter called `name`; a missing name is an error naming it.
const Tensor& find_parameter(const std::map<std::string, Tensor>& parameters, const std::string& name);

// Replaces each parameter by an f32 copy of weights[name] (shapes checked,
// requires_grad kept). A name in `weights` the model lacks is an error; so is
// a parameter missing from `weights` unless `partial` (it then keeps its value).
// `model` names the model in errors ("a llama model", "this ViT").

void load_named_parameters(std::map<std::string, Tensor>& parameters, const std::map<std::string, Tensor>& weights,
                           const std::string& model, bool partial = false);

}  // namespace kiln::models
