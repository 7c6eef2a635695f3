#include "kiln/kernels/cpu/decode_attention.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <omp.h>

#include "kiln/kernels/cpu/fast_math.hpp"

namespace kiln::cpu {

namespace {

// Below this many multiply-adds (over all heads) one thread attends alone.
constexpr int64_t kParallelMacs = int64_t{1} << 16;

// scores[j] ← exp(scores[j] − max) for j < n; returns their sum.
float exponentiate(float* scores, int64_t n) {
  const float best = *std::max_element(scores, scores + n);
  float total = 0;
#pragma omp simd reduction(+ : total)
  for (int64_t j = 0; j < n; ++j) {
    scores[j] = fast_exp(scores[j] - best);
    total += scores[j];
  }
  return total;
}

}  // namespace

namespace {

// Query s against cache rows 0..start+s for the kv heads [g_begin, g_end) and
// the query heads that share them. The cache stores a row's heads side by
// side ([cap, kv_heads, d]), so the loops run over rows outside and heads
// inside: each row is read once, front to back, and a kv head's key and
// value serve its whole group of query heads while in cache.
void attend_rows(const float* q, const float* keys, const float* values, const CachedAttentionShape& a, float scale,
                 int64_t s, int64_t g_begin, int64_t g_end, float* out) {
  const int64_t group = a.heads / a.kv_heads, visible = a.start + s + 1;
  const int64_t h_begin = g_begin * group, h_count = (g_end - g_begin) * group;
  std::vector<float> scores(static_cast<size_t>(h_count * visible));  // [head, row]
  for (int64_t j = 0; j < visible; ++j)
    for (int64_t hh = 0; hh < h_count; ++hh) {
      const int64_t h = h_begin + hh;
      const float* qv = q + (s * a.heads + h) * a.dk;
      const float* kv = keys + (j * a.kv_heads + h / group) * a.dk;
      float dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int64_t i = 0; i < a.dk; ++i) dot += qv[i] * kv[i];
      scores[hh * visible + j] = dot * scale;
    }
  std::vector<float> inverse_totals(static_cast<size_t>(h_count));
  for (int64_t hh = 0; hh < h_count; ++hh) inverse_totals[hh] = 1.0f / exponentiate(&scores[hh * visible], visible);
  float* o = out + (s * a.heads + h_begin) * a.dv;
  std::fill(o, o + h_count * a.dv, 0.0f);
  for (int64_t j = 0; j < visible; ++j)
    for (int64_t hh = 0; hh < h_count; ++hh) {
      const float w = scores[hh * visible + j] * inverse_totals[hh];
      const float* vv = values + (j * a.kv_heads + (h_begin + hh) / group) * a.dv;
      float* oh = o + hh * a.dv;
#pragma omp simd
      for (int64_t i = 0; i < a.dv; ++i) oh[i] += w * vv[i];
    }
}

}  // namespace

void cached_attention(const float* q, const float* keys, const float* values, const CachedAttentionShape& a,
                      float scale, float* out) {
  const int64_t visible_max = a.start + a.t_new;
  const bool parallel = a.t_new * a.heads * visible_max * (a.dk + a.dv) > kParallelMacs;
  // In parallel, each thread takes a contiguous range of kv heads (whole rows' worth when alone).
  const int64_t parts = parallel ? std::min<int64_t>(omp_get_max_threads(), a.kv_heads) : 1;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (int64_t s = 0; s < a.t_new; ++s)
    for (int64_t p = 0; p < parts; ++p)
      attend_rows(q, keys, values, a, scale, s, p * a.kv_heads / parts, (p + 1) * a.kv_heads / parts, out);
}

void absorb_queries(const float* q_nope, const float* q_rope, const float* w_ukv, const LatentAttentionShape& a,
                    float* absorbed) {
  for (int64_t s = 0; s < a.t_new; ++s)
    for (int64_t h = 0; h < a.heads; ++h) {
      float* out = absorbed + (s * a.heads + h) * (a.dc + a.dr);
      std::fill(out, out + a.dc, 0.0f);
      const float* qn = q_nope + (s * a.heads + h) * a.dn;
      for (int64_t i = 0; i < a.dn; ++i) {
        const float* row = w_ukv + (h * (a.dn + a.dv) + i) * a.dc;
        for (int64_t j = 0; j < a.dc; ++j) out[j] += qn[i] * row[j];
      }
      const float* qr = q_rope + (s * a.heads + h) * a.dr;
      std::copy(qr, qr + a.dr, out + a.dc);
    }
}

void latent_attention(const float* absorbed, const float* latents, const float* rope_keys,
                      const LatentAttentionShape& a, float scale, float* z) {
  std::vector<float> scores(static_cast<size_t>(a.start + a.t_new));
  for (int64_t s = 0; s < a.t_new; ++s)
    for (int64_t h = 0; h < a.heads; ++h) {
      const float* q = absorbed + (s * a.heads + h) * (a.dc + a.dr);
      const int64_t visible = a.start + s + 1;
      for (int64_t j = 0; j < visible; ++j) {
        float dot = 0;
        for (int64_t i = 0; i < a.dc; ++i) dot += q[i] * latents[j * a.dc + i];
        for (int64_t i = 0; i < a.dr; ++i) dot += q[a.dc + i] * rope_keys[j * a.dr + i];
        scores[j] = dot * scale;
      }
      const float total = exponentiate(scores.data(), visible);
      float* out = z + (s * a.heads + h) * a.dc;
      std::fill(out, out + a.dc, 0.0f);
      for (int64_t j = 0; j < visible; ++j) {
        const float w = scores[j] / total;
        for (int64_t i = 0; i < a.dc; ++i) out[i] += w * latents[j * a.dc + i];
      }
    }
}

void lift_latents(const float* z, const float* w_ukv, const LatentAttentionShape& a, float* out) {
  for (int64_t s = 0; s < a.t_new; ++s)
    for (int64_t h = 0; h < a.heads; ++h) {
      const float* zz = z + (s * a.heads + h) * a.dc;
      float* o = out + (s * a.heads + h) * a.dv;
      for (int64_t i = 0; i < a.dv; ++i) {
        const float* row = w_ukv + (h * (a.dn + a.dv) + a.dn + i) * a.dc;
        float acc = 0;
        for (int64_t j = 0; j < a.dc; ++j) acc += row[j] * zz[j];
        o[i] = acc;
      }
    }
}

}  // namespace kiln::cpu
