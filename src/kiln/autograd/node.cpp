#include "kiln/autograd/node.hpp"

#include "tensor_accumulate.hpp"

namespace kiln::autograd {

TensorList AccumulateGrad::apply(TensorList grads_out) {
  // A gradient arriving into a leaf is owned by the leaf from now on (the
  // optimizer and clipping write to it), so it must not alias a buffer that
  // anything else can see.
  Tensor& grad = meta_->grad;
  Tensor& incoming = grads_out[0];
  if (grad.defined()) {
    grad = accumulate(std::move(grad), incoming);  // in place unless someone else holds the gradient
  } else if (incoming.storage().use_count() == 1 && incoming.is_contiguous() && incoming.offset() == 0 &&
             incoming.storage()->bytes() == static_cast<size_t>(incoming.numel()) * dtype_size(incoming.dtype())) {
    grad = incoming.detach();  // nobody else holds this buffer: adopt it instead of copying
  } else {
    grad = incoming.clone();
  }
  if (meta_->on_grad_accumulated) meta_->on_grad_accumulated();
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
