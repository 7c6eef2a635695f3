#pragma once
// How an op joins the graph. Compute the outputs without autograd, then:
//
//   return record("rmsnorm", {x, weight}, {y}, [x, weight, rstd](const TensorList& g) {
//     return TensorList{grad_x, grad_weight};
//   })[0];
//
// If recording is on and some input requires grad, the outputs get a
// FunctionNode whose closure is the backward; otherwise they are returned
// untouched and the closure is dropped. The closure must return one tensor per
// input, in order (undefined for inputs without a gradient, e.g. indices).
#include "kiln/autograd/node.hpp"

namespace kiln::autograd {

bool any_requires_grad(const TensorList& inputs);

TensorList record(std::string name, const TensorList& inputs, TensorList outputs, BackwardFn backward);

// Makes `node` the producer of `outputs` (fresh handles) and routes its
// input gradients to the producers of `inputs`; record() is this plus the
// check that recording is on and some input needs a gradient.
TensorList connect(const std::shared_ptr<Node>& node, const TensorList& inputs, TensorList outputs);

// Sums a broadcast gradient back down to `shape` (NumPy broadcasting rules).
Tensor sum_to_shape(const Tensor& grad, const Shape& shape);

}  // namespace kiln::autograd
