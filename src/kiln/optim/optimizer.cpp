#include "kiln/optim/optimizer.hpp"

#include <cmath>

#include "kiln/base/error.hpp"
#include "kiln/kernels/cpu/optimizer.hpp"

namespace kiln::optim {

namespace {

const Tensor& checked_grad(const std::string& name, const Tensor& param, const Tensor& grad) {
  KILN_CHECK(grad.shape() == param.shape() && grad.dtype() == DType::f32,
             "optimizer: gradient {} of '{}' does not match parameter {}", grad.describe(), name, param.describe());
  return grad;
}

}  // namespace

std::map<std::string, Tensor> gradient_trained(const std::map<std::string, Tensor>& parameters) {
  std::map<std::string, Tensor> trained;
  for (const auto& [name, p] : parameters)
    if (p.requires_grad()) trained.emplace(name, p);
  return trained;
}

AdamW::AdamW(std::map<std::string, Tensor> parameters, AdamWOptions options)
    : parameters_(std::move(parameters)), options_(options) {
  for (const auto& [name, p] : parameters_) {
    KILN_CHECK(p.dtype() == DType::f32 && p.is_contiguous(), "AdamW: parameter '{}' must be contiguous f32, got {}",
               name, p.describe());
    exp_avg_[name] = Tensor::zeros(p.shape());
    exp_avg_sq_[name] = Tensor::zeros(p.shape());
  }
}

void AdamW::step() {
  ++steps_;
  const double bc1 = 1 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double bc2 = 1 - std::pow(options_.beta2, static_cast<double>(steps_));
  for (auto& [name, p] : parameters_) {
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    const Tensor g = checked_grad(name, p, grad).contiguous();
    const bool decays = p.dim() >= options_.decay_rule.min_decay_rank;
    const cpu::AdamWStep update{static_cast<float>(options_.lr),
                                static_cast<float>(options_.beta1),
                                static_cast<float>(options_.beta2),
                                static_cast<float>(options_.eps),
                                decays ? static_cast<float>(options_.weight_decay) : 0.0f,
                                static_cast<float>(options_.lr / bc1),
                                static_cast<float>(1.0 / std::sqrt(bc2))};
    cpu::adamw_update(p.data<float>(), g.data<float>(), exp_avg_[name].data<float>(), exp_avg_sq_[name].data<float>(),
                      p.numel(), update);
  }
}

void AdamW::zero_grad() {
  for (auto& [name, p] : parameters_) p.zero_grad();
}

io::TensorMap AdamW::state() const {
  io::TensorMap out;
  for (const auto& [name, m] : exp_avg_) out[name + ".exp_avg"] = m;
  for (const auto& [name, v] : exp_avg_sq_) out[name + ".exp_avg_sq"] = v;
  out["step"] = Tensor::scalar(static_cast<double>(steps_), DType::i64);
  return out;
}

void AdamW::load_state(const io::TensorMap& state) {
  auto find = [&](const std::string& key) -> const Tensor& {
    auto it = state.find(key);
    KILN_CHECK(it != state.end(), "optimizer state lacks '{}'", key);
    return it->second;
  };
  for (auto& [name, p] : parameters_) {
    for (auto* slot : {&exp_avg_, &exp_avg_sq_}) {
      const std::string key = name + (slot == &exp_avg_ ? ".exp_avg" : ".exp_avg_sq");
      const Tensor& saved = find(key);
      KILN_CHECK(saved.shape() == p.shape(), "optimizer state '{}' is {}, the parameter is {}", key, saved.describe(),
                 p.describe());
      (*slot)[name] = saved.to(DType::f32).contiguous().clone();
    }
  }
  steps_ = static_cast<int64_t>(find("step").item());
}

Sgd::Sgd(std::map<std::string, Tensor> parameters, SgdOptions options)
    : parameters_(std::move(parameters)), options_(options) {}

void Sgd::step() {
  for (auto& [name, p] : parameters_) {
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    const Tensor g = checked_grad(name, p, grad).contiguous();
    const float mu = static_cast<float>(options_.momentum);
    bool first = false;
    float* buffer = nullptr;
    if (mu != 0) {
      auto it = momentum_.find(name);
      first = it == momentum_.end();
      if (first) it = momentum_.emplace(name, Tensor::zeros(p.shape())).first;
      buffer = it->second.data<float>();
    }
    cpu::sgd_update(p.data<float>(), g.data<float>(), buffer, p.numel(),
                    {static_cast<float>(options_.lr), static_cast<float>(options_.weight_decay), mu,
                     options_.nesterov, first});
  }
}

void Sgd::zero_grad() {
  for (auto& [name, p] : parameters_) p.zero_grad();
}

double grad_squared_sum(const std::map<std::string, Tensor>& parameters,
                        const std::function<bool(const std::string&)>& select) {
  double total = 0;
  for (const auto& [name, p] : parameters) {
    const Tensor g = p.grad();
    if (!g.defined() || (select && !select(name))) continue;
    const Tensor c = g.contiguous();
    total += cpu::sum_of_squares(c.data<float>(), c.numel());
  }
  return total;
}

void scale_grads_to_norm(const std::map<std::string, Tensor>& parameters, double norm, double max_norm) {
  const double coefficient = max_norm / (norm + 1e-6);
  if (coefficient >= 1.0) return;
  for (const auto& [name, p] : parameters) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    // Leaf gradients are owned by their parameter (AccumulateGrad copies what
    // it receives), so they can be scaled where they are.
    if (!g.is_contiguous()) {
      g = g.contiguous().clone();
      p.set_grad(g);
    }
    cpu::scale_in_place(g.data<float>(), g.numel(), static_cast<float>(coefficient));
  }
}

double clip_grad_norm(const std::map<std::string, Tensor>& parameters, double max_norm) {
  const double norm = std::sqrt(grad_squared_sum(parameters));
  scale_grads_to_norm(parameters, norm, max_norm);
  return norm;
}

}  // namespace kiln::optim
