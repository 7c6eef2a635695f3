#include "kiln/kernels/cpu/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/kernels/cpu/fast_math.hpp"
#include "kiln/kernels/cpu/gemm.hpp"

namespace kiln::cpu {

namespace {

// A run of queries that attends to a run of keys of the same batch row.
struct Segment {
  int64_t batch, q_begin, q_end, k_begin, k_end;
  int64_t causal_offset() const { return (k_end - k_begin) - (q_end - q_begin); }
};

std::vector<Segment> segments_of(const AttentionShape& s, const AttentionMask& m) {
  std::vector<Segment> out;
  if (m.cu_seqlens != nullptr) {
    KILN_CHECK(s.batch == 1 && s.q_len == s.kv_len, "attention: packed sequences need B = 1 and T = S");
    KILN_CHECK(m.segments >= 1 && m.cu_seqlens[0] == 0 && m.cu_seqlens[m.segments] == s.q_len,
               "attention: cu_seqlens must start at 0 and end at the {} packed tokens", s.q_len);
    for (int64_t i = 0; i < m.segments; ++i) {
      KILN_CHECK(m.cu_seqlens[i] <= m.cu_seqlens[i + 1], "attention: cu_seqlens must not decrease");
      if (m.cu_seqlens[i] < m.cu_seqlens[i + 1])
        out.push_back({0, m.cu_seqlens[i], m.cu_seqlens[i + 1], m.cu_seqlens[i], m.cu_seqlens[i + 1]});
    }
    return out;
  }
  for (int64_t b = 0; b < s.batch; ++b) out.push_back({b, 0, s.q_len, 0, s.kv_len});
  return out;
}

template <typename T>
constexpr T minus_infinity() {
  return -std::numeric_limits<T>::infinity();
}

// Scores of one tile: scale · Q[rows] · K[cols]ᵀ (+ the key bias) with masked entries at −inf.
template <typename T>
void tile_scores(const T* q, const T* k, T* scores, int64_t rows, int64_t cols, int64_t q_row0, int64_t k_col0,
                 const Segment& seg, const AttentionShape& s, const AttentionMask& m) {
  const GemmShape g{false, true, rows, cols, s.head_dim, s.heads * s.head_dim, s.kv_heads * s.head_dim, cols};
  T beta{0};
  if (m.key_bias != nullptr) {
    // Every row starts from the bias and the GEMM accumulates onto it.
    const float* bias = m.key_bias + seg.batch * s.kv_len + k_col0;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) scores[i * cols + j] = static_cast<T>(bias[j]);
    beta = T{1};
  }
  gemm(g, static_cast<T>(m.scale), q, k, beta, scores);
  const int64_t offset = seg.causal_offset();
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t local_row = q_row0 + i - seg.q_begin;
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t key = k_col0 + j;
      const bool hidden = (m.causal && key - seg.k_begin > local_row + offset) ||
                          (m.key_keep != nullptr && m.key_keep[seg.batch * s.kv_len + key] == 0);
      if (hidden) scores[i * cols + j] = minus_infinity<T>();
    }
  }
}

// One past the last key any of rows [q0, q0+rows) may see.
int64_t key_limit(const Segment& seg, int64_t q0, int64_t rows, const AttentionMask& m) {
  if (!m.causal) return seg.k_end;
  const int64_t last_local = q0 + rows - 1 - seg.q_begin;
  return std::clamp(seg.k_begin + last_local + seg.causal_offset() + 1, seg.k_begin, seg.k_end);
}

}  // namespace

template <typename T>
void attention_forward(const T* q, const T* k, const T* v, T* out, T* lse, const AttentionShape& s,
                       const AttentionMask& m) {
  const std::vector<Segment> segments = segments_of(s, m);
  struct Task {
    int64_t segment, head, q0, rows;
  };
  std::vector<Task> tasks;
  for (int64_t i = 0; i < static_cast<int64_t>(segments.size()); ++i)
    for (int64_t h = 0; h < s.heads; ++h)
      for (int64_t q0 = segments[i].q_begin; q0 < segments[i].q_end; q0 += kAttentionQueryTile)
        tasks.push_back({i, h, q0, std::min(kAttentionQueryTile, segments[i].q_end - q0)});
  const int64_t d = s.head_dim, group = s.heads / s.kv_heads;
  const int64_t q_stride = s.heads * d, kv_stride = s.kv_heads * d;

#pragma omp parallel
  {
    std::vector<T> scores(kAttentionQueryTile * kAttentionKeyTile), acc(kAttentionQueryTile * d);
    std::vector<T> row_max(kAttentionQueryTile), row_sum(kAttentionQueryTile);
#pragma omp for schedule(dynamic)
    for (int64_t t = 0; t < static_cast<int64_t>(tasks.size()); ++t) {
      const Task& task = tasks[t];
      const Segment& seg = segments[task.segment];
      const int64_t g = task.head / group, rows = task.rows;
      const T* qp = q + ((seg.batch * s.q_len + task.q0) * s.heads + task.head) * d;
      std::fill(acc.begin(), acc.begin() + rows * d, T{0});
      std::fill(row_max.begin(), row_max.end(), minus_infinity<T>());
      std::fill(row_sum.begin(), row_sum.end(), T{0});
      const int64_t limit = key_limit(seg, task.q0, rows, m);
      for (int64_t k0 = seg.k_begin; k0 < limit; k0 += kAttentionKeyTile) {
        const int64_t cols = std::min(kAttentionKeyTile, limit - k0);
        const T* kp = k + ((seg.batch * s.kv_len + k0) * s.kv_heads + g) * d;
        const T* vp = v + ((seg.batch * s.kv_len + k0) * s.kv_heads + g) * d;
        tile_scores(qp, kp, scores.data(), rows, cols, task.q0, k0, seg, s, m);
        for (int64_t i = 0; i < rows; ++i) {
          T* row = scores.data() + i * cols;
          T tile_max = minus_infinity<T>();
          for (int64_t j = 0; j < cols; ++j) tile_max = std::max(tile_max, row[j]);
          const T new_max = std::max(row_max[i], tile_max);
          if (new_max == minus_infinity<T>()) {  // nothing visible yet in this row
            std::fill(row, row + cols, T{0});
            continue;
          }
          const T correction = fast_exp(row_max[i] - new_max);
          T sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int64_t j = 0; j < cols; ++j) {
            row[j] = fast_exp(row[j] - new_max);
            sum += row[j];
          }
          row_sum[i] = row_sum[i] * correction + sum;
          row_max[i] = new_max;
          if (correction != T{1})
            for (int64_t c = 0; c < d; ++c) acc[i * d + c] *= correction;
        }
        gemm(GemmShape{false, false, rows, d, cols, cols, kv_stride, d}, T{1}, scores.data(), vp, T{1}, acc.data());
      }
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t row_index = task.q0 + i;
        T* o = out + ((seg.batch * s.q_len + row_index) * s.heads + task.head) * d;
        T& row_lse = lse[(seg.batch * s.heads + task.head) * s.q_len + row_index];
        if (row_sum[i] == T{0}) {
          std::fill(o, o + d, T{0});
          row_lse = std::numeric_limits<T>::infinity();
          continue;
        }
        const T inv = T{1} / row_sum[i];
        for (int64_t c = 0; c < d; ++c) o[c] = acc[i * d + c] * inv;
        row_lse = row_max[i] + std::log(row_sum[i]);
      }
    }
  }
  (void)q_stride;
}

template <typename T>
void attention_backward(const T* q, const T* k, const T* v, const T* out, const T* lse, const T* dout, T* dq, T* dk,
                        T* dv, const AttentionShape& s, const AttentionMask& m) {
  const std::vector<Segment> segments = segments_of(s, m);
  const int64_t d = s.head_dim, group = s.heads / s.kv_heads;
  const int64_t q_stride = s.heads * d, kv_stride = s.kv_heads * d;
  // D_i = rowsum(dO ∘ O), per (b, h, t).
  std::vector<T> delta(static_cast<size_t>(s.batch * s.heads * s.q_len));
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t t = 0; t < s.q_len; ++t)
      for (int64_t h = 0; h < s.heads; ++h) {
        const int64_t at = ((b * s.q_len + t) * s.heads + h) * d;
        T sum = 0;
        for (int64_t c = 0; c < d; ++c) sum += dout[at + c] * out[at + c];
        delta[(b * s.heads + h) * s.q_len + t] = sum;
      }
  // Key/value gradients per query head, summed over each GQA group at the end,
  // so that tasks (segment, head) never write the same memory.
  std::vector<T> dk_head(static_cast<size_t>(s.batch * s.kv_len * s.heads * d), T{0});
  std::vector<T> dv_head(dk_head.size(), T{0});
  std::fill(dq, dq + s.batch * s.q_len * q_stride, T{0});
  const int64_t head_stride = s.heads * d;
  const int64_t tasks = static_cast<int64_t>(segments.size()) * s.heads;

#pragma omp parallel
  {
    std::vector<T> p(kAttentionQueryTile * kAttentionKeyTile), dp(kAttentionQueryTile * kAttentionKeyTile);
#pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < tasks; ++task) {
      const Segment& seg = segments[task / s.heads];
      const int64_t h = task % s.heads, g = h / group;
      for (int64_t q0 = seg.q_begin; q0 < seg.q_end; q0 += kAttentionQueryTile) {
        const int64_t rows = std::min(kAttentionQueryTile, seg.q_end - q0);
        const int64_t q_at = ((seg.batch * s.q_len + q0) * s.heads + h) * d;
        const T* row_lse = lse + (seg.batch * s.heads + h) * s.q_len + q0;
        const T* row_delta = delta.data() + (seg.batch * s.heads + h) * s.q_len + q0;
        const int64_t limit = key_limit(seg, q0, rows, m);
        for (int64_t k0 = seg.k_begin; k0 < limit; k0 += kAttentionKeyTile) {
          const int64_t cols = std::min(kAttentionKeyTile, limit - k0);
          const int64_t kv_at = ((seg.batch * s.kv_len + k0) * s.kv_heads + g) * d;
          const int64_t head_at = ((seg.batch * s.kv_len + k0) * s.heads + h) * d;
          tile_scores(q + q_at, k + kv_at, p.data(), rows, cols, q0, k0, seg, s, m);
          for (int64_t i = 0; i < rows; ++i) {
            const T lse_i = row_lse[i];
            T* prow = p.data() + i * cols;
#pragma omp simd
            for (int64_t j = 0; j < cols; ++j) prow[j] = fast_exp(prow[j] - lse_i);
          }
          // dV += Pᵀ·dO ; dP = dO·Vᵀ
          gemm(GemmShape{true, false, cols, d, rows, cols, q_stride, head_stride}, T{1}, p.data(), dout + q_at, T{1},
               dv_head.data() + head_at);
          gemm(GemmShape{false, true, rows, cols, d, q_stride, kv_stride, cols}, T{1}, dout + q_at, v + kv_at, T{0},
               dp.data());
          // dS = P ∘ (dP − D), reusing dp
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < cols; ++j) dp[i * cols + j] = p[i * cols + j] * (dp[i * cols + j] - row_delta[i]);
          const T scale = static_cast<T>(m.scale);
          gemm(GemmShape{false, false, rows, d, cols, cols, kv_stride, q_stride}, scale, dp.data(), k + kv_at, T{1},
               dq + q_at);
          gemm(GemmShape{true, false, cols, d, rows, cols, q_stride, head_stride}, scale, dp.data(), q + q_at, T{1},
               dk_head.data() + head_at);
        }
      }
    }
  }
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t j = 0; j < s.kv_len; ++j)
      for (int64_t g = 0; g < s.kv_heads; ++g) {
        T* dkp = dk + ((b * s.kv_len + j) * s.kv_heads + g) * d;
        T* dvp = dv + ((b * s.kv_len + j) * s.kv_heads + g) * d;
        std::fill(dkp, dkp + d, T{0});
        std::fill(dvp, dvp + d, T{0});
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          const int64_t at = ((b * s.kv_len + j) * s.heads + h) * d;
          for (int64_t c = 0; c < d; ++c) {
            dkp[c] += dk_head[at + c];
            dvp[c] += dv_head[at + c];
          }
        }
      }
}

template void attention_forward<float>(const float*, const float*, const float*, float*, float*,
                                       const AttentionShape&, const AttentionMask&);
template void attention_forward<double>(const double*, const double*, const double*, double*, double*,
                                        const AttentionShape&, const AttentionMask&);
template void attention_backward<float>(const float*, const float*, const float*, const float*, const float*,
                                        const float*, float*, float*, float*, const AttentionShape&,
                                        const AttentionMask&);
template void attention_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                         const double*, double*, double*, double*, const AttentionShape&,
                                         const AttentionMask&);

}  // namespace kiln::cpu
