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
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options = {});

// mean((a − b)²)
Tensor mse_loss(const Tensor& a, const Tensor& b);

}  // namespace kiln::ops
