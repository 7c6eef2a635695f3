#pragma once
#include "kiln/autograd/node.hpp"

namespace kiln {

// Reverse-mode sweep from `roots`, seeding each with the matching gradient
// (a scalar root may pass an undefined gradient: it means 1). Leaf gradients
// accumulate into tensor.grad(). The graph is released unless retain_graph.
void backward(const autograd::TensorList& roots, const autograd::TensorList& root_grads = {},
              bool retain_graph = false);
inline void backward(const Tensor& root, const Tensor& root_grad = {}, bool retain_graph = false) {
  backward(autograd::TensorList{root}, autograd::TensorList{root_grad}, retain_graph);
}

// Calls `hook` every time backward accumulates into leaf.grad() (an empty
// function removes it). The leaf must require grad.
void set_gradient_hook(const Tensor& leaf, std::function<void()> hook);

}  // namespace kiln
