#include "kiln/autograd/node.hpp"

#include "tensor_accumulate.hpp"

namespace kiln::autograd {

TensorList AccumulateGrad::apply(TensorList grads_out) {
  // A gradient arriving into a leaf is owned by the leaf from now on, so it
  // must not alias an activation buffer that later ops might reuse.
  Tensor& grad = meta_->grad;
  grad = grad.defined() ? accumulate(grad, grads_out[0]) : grads_out[0].clone();
  return {};
}

TensorList FunctionNode::apply(TensorList grads_out) {
  KILN_CHECK(backward_ != nullptr,
             "backward through {} a second time: its saved tensors were freed (pass retain_graph=true)", name_);
  return backward_(grads_out);
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  const auto& meta = t.autograd_meta();
  if (meta->grad_fn) return {meta->grad_fn, meta->output_nr};
  std::shared_ptr<Node> accumulator = meta->accumulator.lock();
  if (!accumulator) {
    accumulator = std::make_shared<AccumulateGrad>(meta);
    accumulator->output_shapes = {t.shape()};
    accumulator->output_dtypes = {t.dtype()};
    meta->accumulator = accumulator;
  }
  return {accumulator, 0};
}

}  // namespace kiln::autograd
