#pragma once
// Optimizers over named parameters (the names key their saved state, so a
// resumed run finds each parameter's moments again).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kiln/io/safetensors.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::optim {

struct ParamGroupRule {
  // Parameters with fewer dimensions than this get no weight decay
  // (nanoGPT's rule, adopted for DeepSeek: decay matrices and embeddings,
  // never norm gains or biases).
  int64_t min_decay_rank = 2;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
  ParamGroupRule decay_rule;
};

// The parameters an optimizer should own: those that require a gradient
// (an MoE routing bias moves by balancing, a frozen encoder not at all).
std::map<std::string, Tensor> gradient_trained(const std::map<std::string, Tensor>& parameters);

// torch.optim.AdamW: decoupled weight decay, bias-corrected moments, eps
// outside the square root. One fused loop per parameter.
class AdamW {
 public:
  AdamW(std::map<std::string, Tensor> parameters, AdamWOptions options);

  void step();  // uses each parameter's .grad(); parameters without one are skipped
  void zero_grad();
  void set_lr(double lr) { options_.lr = lr; }
  double lr() const { return options_.lr; }
  int64_t steps() const { return steps_; }

  io::TensorMap state() const;  // "<name>.exp_avg", "<name>.exp_avg_sq", "step"
  void load_state(const io::TensorMap& state);

 private:
  std::map<std::string, Tensor> parameters_;
  std::map<std::string, Tensor> exp_avg_, exp_avg_sq_;
  AdamWOptions options_;
  int64_t steps_ = 0;
};

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// torch.optim.SGD semantics (the first momentum buffer is the gradient itself).
class Sgd {
 public:
  Sgd(std::map<std::string, Tensor> parameters, SgdOptions options);
  void step();
  void zero_grad();
  void set_lr(double lr) { options_.lr = lr; }

 private:
  std::map<std::string, Tensor> parameters_;
  std::map<std::string, Tensor> momentum_;
  SgdOptions options_;
};

// Scales all gradients so their global L2 norm is at most max_norm; returns
// the norm before clipping (torch.nn.utils.clip_grad_norm_).
double clip_grad_norm(const std::map<std::string, Tensor>& parameters, double max_norm);

// The two halves of clipping, for callers whose norm spans processes (expert
// parallelism): Σ‖g‖² over the gradients of the parameters `select` accepts
// (all when empty), and the scaling of every gradient by max_norm/(norm+1e-6)
// when that is below 1.
double grad_squared_sum(const std::map<std::string, Tensor>& parameters,
                        const std::function<bool(const std::string&)>& select = {});
void scale_grads_to_norm(const std::map<std::string, Tensor>& parameters, double norm, double max_norm);

}  // namespace kiln::optim
