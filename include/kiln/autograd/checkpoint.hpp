#pragma once
// Activation checkpointing (Chen et al. 2016; torch.utils.checkpoint with
// use_reentrant=True semantics). The segment runs without recording, so its
// intermediate activations are freed at once; only its inputs are kept. In
// backward the segment runs again with recording on and is differentiated.
// Randomness inside a segment must come from explicit Philox keys (dropout
// takes one), so the recomputation draws the same numbers with no RNG state
// to stash. Parameters captured by the segment receive their gradients
// during that recomputation.
#include <functional>

#include "kiln/autograd/node.hpp"

namespace kiln::autograd {

using Segment = std::function<TensorList(const TensorList& inputs)>;

TensorList checkpoint(const Segment& segment, const TensorList& inputs);

}  // namespace kiln::autograd
