#pragma once
// Attention at decoding time, over a KV cache: t_new new queries (positions
// start .. start + t_new − 1) against the cache's first start + t_new rows,
// causal, one softmax per query and head (f32, contiguous).
#include <cstdint>

namespace kiln::cpu {

struct CachedAttentionShape {
  int64_t t_new = 0, heads = 0, kv_heads = 0, dk = 0, dv = 0, start = 0;
};

// q [t_new, heads, dk], keys [cap, kv_heads, dk], values [cap, kv_heads, dv]
// (heads share a kv head in groups of heads / kv_heads) → out [t_new, heads, dv].
void cached_attention(const float* q, const float* keys, const float* values, const CachedAttentionShape& shape,
                      float scale, float* out);

// MLA with the up-projections absorbed (DeepSeek-V2 §2.1.3): the cache holds
// the normalised latents ĉ [cap, dc] and the shared rotated keys k^R [cap, dr].
struct LatentAttentionShape {
  int64_t t_new = 0, heads = 0, dc = 0, dr = 0, dn = 0, dv = 0, start = 0;
};

// absorbed [t_new, heads, dc + dr]: (W_UKᵀ q^C, q^R) per head, where w_ukv is
// [heads · (dn + dv), dc] (per head dn rows of W_UK, then dv rows of W_UV),
// q_nope [t_new, heads, dn] and q_rope [t_new, heads, dr].
void absorb_queries(const float* q_nope, const float* q_rope, const float* w_ukv, const LatentAttentionShape& shape,
                    float* absorbed);
// z [t_new, heads, dc] = Σ_j softmax_j(scale · (q̃·ĉ_j + q^R·k^R_j)) ĉ_j.
void latent_attention(const float* absorbed, const float* latents, const float* rope_keys,
                      const LatentAttentionShape& shape, float scale, float* z);
// out [t_new, heads, dv] = W_UV z per head.
void lift_latents(const float* z, const float* w_ukv, const LatentAttentionShape& shape, float* out);

}  // namespace kiln::cpu
