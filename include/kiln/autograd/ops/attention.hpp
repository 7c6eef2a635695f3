#pragma once
// Scaled dot-product attention as one fused, flash-style op (see
// kernels/cpu/attention.hpp): no T×S score matrix is stored in forward or
// backward.
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

struct AttentionOptions {
  bool causal = false;
  double scale = 0;       // 0: 1/sqrt(head_dim)
  Tensor cu_seqlens;      // i32/i64 [n+1]: packed sequences (B = 1, T = S); no attention across them
  Tensor key_padding_mask;  // u8 [B, S]: 1 = a real key, 0 = padding
  // [B, S], added to every query's score of key j before the softmax (ToMe's
  // proportional attention: ln of each token's size). Held in f32 whatever
  // the dtype of q (an f64 bias is rounded); it receives no gradient.
  Tensor key_bias;
};

// q [B, T, H, D], k and v [B, S, H_kv, D] with H a multiple of H_kv (GQA:
// query head h reads key/value head h / (H / H_kv)) → [B, T, H, D].
// A query that sees no key outputs zeros and receives no gradient.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& options = {});

}  // namespace kiln::ops
