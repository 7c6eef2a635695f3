#include "kiln/autograd/function.hpp"

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/tensor/strided.hpp"
#include "kiln/tensor/visit.hpp"

namespace kiln::autograd {

bool any_requires_grad(const TensorList& inputs) {
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

TensorList connect(const std::shared_ptr<Node>& node, const TensorList& inputs, TensorList outputs) {
  node->next_edges.reserve(inputs.size());
  for (const Tensor& input : inputs) node->next_edges.push_back(gradient_edge(input));
  for (size_t i = 0; i < outputs.size(); ++i) {
    Tensor& out = outputs[i];
    node->output_shapes.push_back(out.shape());
    node->output_dtypes.push_back(out.dtype());
    if (!is_floating(out.dtype())) continue;
    // A fresh handle: outputs that are views of an input must not share its meta.
    out = out.detach();
    auto& meta = out.mutable_autograd_meta();
    meta = std::make_shared<AutogradMeta>();
    meta->requires_grad = true;
    meta->grad_fn = node;
    meta->output_nr = static_cast<int>(i);
  }
  return outputs;
}

TensorList record(std::string name, const TensorList& inputs, TensorList outputs, BackwardFn backward) {
  if (!grad_enabled() || !any_requires_grad(inputs)) return outputs;
  return connect(std::make_shared<FunctionNode>(std::move(name), std::move(backward)), inputs, std::move(outputs));
}

Tensor sum_to_shape(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int64_t lead = grad.dim() - static_cast<int64_t>(shape.size());
  KILN_CHECK(lead >= 0, "sum_to_shape: cannot reduce {} to {}", grad.describe(), to_string(shape));
  // Strides of the output as seen from the gradient's index space: 0 along
  // every dimension that was broadcast, so those elements add up.
  Tensor out = Tensor::zeros(shape, grad.dtype());
  const Strides out_contig = contiguous_strides(shape);
  Strides mapped(grad.dim(), 0);
  for (int64_t d = 0; d < grad.dim(); ++d) {
    if (d < lead) continue;
    const int64_t own = shape[d - lead];
    KILN_CHECK(own == grad.size(d) || own == 1, "sum_to_shape: cannot reduce {} to {}", grad.describe(),
               to_string(shape));
    mapped[d] = own == 1 ? 0 : out_contig[d - lead];
  }
  visit_dtype(grad.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      T* o = out.data<T>();
      const T* g = grad.data<T>();
      for_each_strided<2>(grad.shape(), {mapped, grad.strides()},
                          [&](const std::array<int64_t, 2>& off) { o[off[0]] += g[off[1]]; });
    } else {
      fail("sum_to_shape: dtype {} is not supported", dtype_name(grad.dtype()));
    }
  });
  return out;
}

}  // namespace kiln::autograd
