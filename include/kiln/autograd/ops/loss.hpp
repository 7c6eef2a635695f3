#pragma once
#include <cstdint>

#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

struct CrossEntropyOptions {
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  // Divide the summed loss by this many tokens instead of the batch's own
  // count of non-ignored targets (for token-weighted gradient accumulation).
  int64_t normalizer = 0;
};

// Mean over non-ignored rows of −log softmax(logits)[target], with torch's
// label smoothing: (1−ε)·nll + ε·mean_v(−log p_v). logits [N, V], targets
// i64/i32 [N]. Fused: forward keeps only a per-row log-sum-exp; backward
// writes softmax − target distribution straight into the gradient.
// With every target ignored the loss is 0 with a zero gradient (torch gives
// NaN), so an all-padding micro-batch does not poison an accumulated step.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options = {});

// The same loss, summed instead of averaged, with the number of non-ignored
// targets: a trainer adds sums and counts over micro-batches (or ranks) and
// divides once, for a token-weighted mean. options.normalizer must be 0.
struct CrossEntropySum {
  Tensor sum;         // scalar, differentiable with respect to the logits
  int64_t count = 0;  // targets that are not ignore_index
};
CrossEntropySum cross_entropy_sum(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options = {});

// cross_entropy(linear(hidden, weight), targets) without ever holding the
// [N, V] logits: hidden [N, d], weight [V, d] (an output head or a tied
// embedding), targets [N]. The rows are taken `chunk_rows` at a time (every
// chunk spans the whole vocabulary, so its log-sum-exp is exact in one pass);
// for each chunk the logits are computed into one [chunk_rows, V] buffer,
// reduced to the loss and, when a gradient will be needed, turned in place
// into their gradient, which is multiplied straight into the gradients of
// hidden ([N, d]) and weight ([V, d], accumulated chunk after chunk). So the
// backward pass only scales what the forward pass already computed: the head
// costs the same three products as linear + cross_entropy, and the extra
// memory is the [V, d] weight gradient plus one chunk instead of the [N, V]
// logits and their [N, V] gradient. Same options and values as
// cross_entropy. The products run in f32 (f64 for f64 operands), or with bf16
// operands under Precision::bf16 where the bf16 GEMM is used (as linear
// does); Precision::fp8 is not applied (DeepSeek-V3 keeps its output head out
// of FP8). chunk_rows <= 0 takes all rows at once.
Tensor linear_cross_entropy(const Tensor& hidden, const Tensor& weight, const Tensor& targets,
                            const CrossEntropyOptions& options = {}, int64_t chunk_rows = 256);

// mean((a − b)²)
Tensor mse_loss(const Tensor& a, const Tensor& b);

}  // namespace kiln::ops
