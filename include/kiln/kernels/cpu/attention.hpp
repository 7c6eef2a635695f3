#pragma once
// Flash-style attention on the CPU (FlashAttention-2's algorithm): keys are
// visited in tiles with an online softmax, so no T×S score matrix is ever
// stored; forward saves only the output and each row's log-sum-exp, and
// backward recomputes the scores tile by tile.
//
// Layout: q [B, T, H, D], k and v [B, S, H_kv, D], out [B, T, H, D], all
// contiguous; lse [B, H, T]. Query head h reads key/value head h / (H / H_kv).
#include <cstdint>

namespace kiln::cpu {

struct AttentionShape {
  int64_t batch = 1, q_len = 0, kv_len = 0, heads = 1, kv_heads = 1, head_dim = 0;
};

struct AttentionMask {
  bool causal = false;             // bottom-right aligned when a segment's q and k lengths differ
  const int64_t* cu_seqlens = nullptr;  // [segments + 1]; packed sequences (batch must be 1, T == S)
  int64_t segments = 0;
  const uint8_t* key_keep = nullptr;  // [B, S], 0 = padding key
  // [B, S], added to every score of key j (ToMe's proportional attention adds
  // ln size_j); f32 for either dtype, since it is data, not a trained value.
  const float* key_bias = nullptr;
  double scale = 1.0;
};

// Query rows that see no key at all (fully masked) get output 0 and lse +inf.
template <typename T>
void attention_forward(const T* q, const T* k, const T* v, T* out, T* lse, const AttentionShape& shape,
                       const AttentionMask& mask);

template <typename T>
void attention_backward(const T* q, const T* k, const T* v, const T* out, const T* lse, const T* dout, T* dq, T* dk,
                        T* dv, const AttentionShape& shape, const AttentionMask& mask);

// Tile sizes (rows of queries, columns of keys) — scratch per thread is
// O(tile² + tile·D), independent of T and S.
inline constexpr int64_t kAttentionQueryTile = 64;
inline constexpr int64_t kAttentionKeyTile = 64;

}  // namespace kiln::cpu
