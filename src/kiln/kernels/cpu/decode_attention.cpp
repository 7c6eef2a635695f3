#include "kiln/kernels/cpu/decode_attention.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

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

void cached_attention(const float* q, const float* keys, const float* values, const CachedAttentionShape& a,
                      float scale, float* out) {
  const int64_t group = a.heads / a.kv_heads;
  const int64_t visible_max = a.start + a.t_new;
  const bool parallel = a.t_new * a.heads * visible_max * (a.dk + a.dv) > kParallelMacs;
#pragma omp parallel if (parallel)
  {
    std::vector<float> scores(static_cast<size_t>(visible_max));
#pragma omp for collapse(2) schedule(static)
    for (int64_t s = 0; s < a.t_new; ++s)
      for (int64_t h = 0; h < a.heads; ++h) {
        const int64_t visible = a.start + s + 1, g = h / group;
        const float* qv = q + (s * a.heads + h) * a.dk;
        for (int64_t j = 0; j < visible; ++j) {
          const float* kv = keys + (j * a.kv_heads + g) * a.dk;
          float dot = 0;
#pragma omp simd reduction(+ : dot)
          for (int64_t i = 0; i < a.dk; ++i) dot += qv[i] * kv[i];
          scores[j] = dot * scale;
        }
        const float total = exponentiate(scores.data(), visible);
        float* o = out + (s * a.heads + h) * a.dv;
        std::fill(o, o + a.dv, 0.0f);
        for (int64_t j = 0; j < visible; ++j) {
          const float w = scores[j] / total;
          const float* vv = values + (j * a.kv_heads + g) * a.dv;
#pragma omp simd
          for (int64_t i = 0; i < a.dv; ++i) o[i] += w * vv[i];
        }
      }
  }
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
