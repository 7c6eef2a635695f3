#include "kiln/autograd/checkpoint.hpp"

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/function.hpp"
#include "kiln/autograd/grad_mode.hpp"

namespace kiln::autograd {

TensorList checkpoint(const Segment& segment, const TensorList& inputs) {
  if (!grad_enabled()) return segment(inputs);
  TensorList outputs;
  {
    NoGradGuard no_grad;
    outputs = segment(inputs);
  }
  TensorList saved;
  std::vector<bool> needs_grad;
  for (const Tensor& t : inputs) {
    saved.push_back(t.detach());
    needs_grad.push_back(t.requires_grad());
  }
  // Recorded even when no input requires grad: parameters inside the segment may.
  auto node = std::make_shared<FunctionNode>("checkpoint", [segment, saved, needs_grad](const TensorList& grads) {
    TensorList replay_inputs;
    for (size_t i = 0; i < saved.size(); ++i) {
      Tensor t = saved[i].detach();
      if (needs_grad[i]) t.set_requires_grad(true);
      replay_inputs.push_back(t);
    }
    TensorList replay_outputs;
    {
      GradModeGuard recording(true);
      replay_outputs = segment(replay_inputs);
    }
    TensorList roots, root_grads;
    for (size_t i = 0; i < replay_outputs.size(); ++i) {
      if (!replay_outputs[i].requires_grad()) continue;
      roots.push_back(replay_outputs[i]);
      root_grads.push_back(grads[i]);
    }
    if (!roots.empty()) backward(roots, root_grads);
    TensorList input_grads;
    for (size_t i = 0; i < replay_inputs.size(); ++i)
      input_grads.push_back(needs_grad[i] ? replay_inputs[i].grad() : Tensor());
    return input_grads;
  });
  return connect(node, inputs, std::move(outputs));
}

}  // namespace kiln::autograd
