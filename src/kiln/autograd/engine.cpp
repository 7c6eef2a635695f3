#include "kiln/autograd/engine.hpp"

#include <unordered_map>
#include <vector>

#include "kiln/autograd/grad_mode.hpp"
#include "tensor_accumulate.hpp"

namespace kiln {

namespace {

using autograd::Edge;
using autograd::Node;
using autograd::TensorList;

// Number of graph edges that point at each node reachable from the roots.
std::unordered_map<Node*, int> count_dependencies(const std::vector<Node*>& roots) {
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack = roots;
  std::unordered_map<Node*, bool> visited;
  for (Node* r : roots) dependencies.try_emplace(r, 0);
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    if (visited[node]) continue;
    visited[node] = true;
    for (const Edge& edge : node->next_edges) {
      if (!edge.node) continue;
      ++dependencies[edge.node.get()];
      if (!visited[edge.node.get()]) stack.push_back(edge.node.get());
    }
  }
  return dependencies;
}

}  // namespace

void backward(const TensorList& roots, const TensorList& root_grads, bool retain_graph) {
  KILN_CHECK(root_grads.empty() || root_grads.size() == roots.size(),
             "backward: {} gradients given for {} roots", root_grads.size(), roots.size());
  GradModeGuard no_recording(false);
  std::unordered_map<Node*, TensorList> buffers;
  std::unordered_map<Node*, std::shared_ptr<Node>> keep_alive;
  std::vector<Node*> root_nodes;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& root = roots[i];
    KILN_CHECK(root.requires_grad(), "backward: root {} does not require grad", root.describe());
    Tensor seed = root_grads.empty() ? Tensor() : root_grads[i];
    if (!seed.defined()) {
      KILN_CHECK(root.numel() == 1, "backward: a gradient is needed for non-scalar root {}", root.describe());
      seed = Tensor::ones(root.shape(), root.dtype());
    }
    check_same_shape(root, seed, "backward");
    const Edge edge = autograd::gradient_edge(root);
    Node* node = edge.node.get();
    keep_alive[node] = edge.node;
    TensorList& buffer = buffers[node];
    buffer.resize(node->output_shapes.size());
    buffer[edge.input_nr] = autograd::accumulate(buffer[edge.input_nr], seed);
    root_nodes.push_back(node);
  }

  std::unordered_map<Node*, int> dependencies = count_dependencies(root_nodes);
  std::vector<Node*> ready;
  for (Node* node : root_nodes)
    if (dependencies[node] == 0) ready.push_back(node);

  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    TensorList grads = std::move(buffers[node]);
    buffers.erase(node);
    grads.resize(node->output_shapes.size());
    bool any = false;
    for (size_t i = 0; i < grads.size(); ++i) {
      if (grads[i].defined()) {
        any = true;
      } else {
        grads[i] = Tensor::zeros(node->output_shapes[i], node->output_dtypes[i]);
      }
    }
    TensorList input_grads;
    if (any) input_grads = node->apply(std::move(grads));
    if (!retain_graph) node->release();
    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& edge = node->next_edges[i];
      if (!edge.node) continue;
      Node* next = edge.node.get();
      keep_alive.try_emplace(next, edge.node);
      if (i < input_grads.size() && input_grads[i].defined()) {
        TensorList& buffer = buffers[next];
        buffer.resize(next->output_shapes.size());
        KILN_CHECK(input_grads[i].shape() == next->output_shapes[edge.input_nr],
                   "backward of {}: gradient {} for input {} should have shape {}", node->name(),
                   input_grads[i].describe(), i, to_string(next->output_shapes[edge.input_nr]));
        buffer[edge.input_nr] = autograd::accumulate(std::move(buffer[edge.input_nr]), input_grads[i]);
      }
      if (--dependencies[next] == 0) ready.push_back(next);
    }
  }
}

void set_gradient_hook(const Tensor& leaf, std::function<void()> hook) {
  KILN_CHECK(leaf.requires_grad() && leaf.autograd_meta() != nullptr && leaf.autograd_meta()->grad_fn == nullptr,
             "set_gradient_hook: {} is not a leaf that requires grad", leaf.describe());
  leaf.autograd_meta()->on_grad_accumulated = std::move(hook);
}

}  // namespace kiln
