#pragma once
// A node of the backward graph: one per differentiable op call. It maps the
// gradients of its outputs to gradients of its inputs and knows, per input,
// which node to send that gradient to next.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kiln/tensor/tensor.hpp"

namespace kiln::autograd {

struct Edge {
  std::shared_ptr<Node> node;  // null: the input needs no gradient
  int input_nr = 0;            // which output of `node` the input was
};

using TensorList = std::vector<Tensor>;

class Node {
 public:
  virtual ~Node() = default;
  // grads_out has one defined tensor per output (zeros where none flowed);
  // returns one tensor per input (undefined where the input needs none).
  virtual TensorList apply(TensorList grads_out) = 0;
  virtual std::string name() const = 0;
  // Frees saved tensors once backward has used them.
  virtual void release() {}

  std::vector<Edge> next_edges;
  std::vector<Shape> output_shapes;
  std::vector<DType> output_dtypes;
};

// The gradient sink of a leaf tensor: adds what arrives into tensor.grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<AutogradMeta> meta) : meta_(std::move(meta)) {}
  TensorList apply(TensorList grads_out) override;
  std::string name() const override { return "AccumulateGrad"; }

 private:
  std::shared_ptr<AutogradMeta> meta_;
};

using BackwardFn = std::function<TensorList(const TensorList& grads_out)>;

// The node every op records: a named closure over what its backward needs.
class FunctionNode final : public Node {
 public:
  FunctionNode(std::string name, BackwardFn backward) : name_(std::move(name)), backward_(std::move(backward)) {}
  TensorList apply(TensorList grads_out) override;
  std::string name() const override { return name_; }
  void release() override { backward_ = nullptr; }

 private:
  std::string name_;
  BackwardFn backward_;
};

// The edge through which a gradient for `t` should flow (null if none).
Edge gradient_edge(const Tensor& t);

}  // namespace kiln::autograd
