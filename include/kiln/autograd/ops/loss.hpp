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

// mean((a − b)²)
Tensor mse_loss(const Tensor& a, const Tensor& b);

}  // namespace kiln::ops
