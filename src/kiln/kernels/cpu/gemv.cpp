#include "kiln/kernels/cpu/gemv.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "kiln/base/error.hpp"

namespace kiln::cpu {

namespace {

// Below this many multiply-adds the OpenMP fork costs more than a second
// thread saves (bench/decode_gemm_bench).
constexpr int64_t kParallelMacs = int64_t{1} << 17;

#if defined(__AVX2__) && defined(__FMA__)

constexpr int64_t kLanes = 8;

// The sums of four vectors, one per lane.
__m128 sum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 ab = _mm256_hadd_ps(a, b);
  const __m256 cd = _mm256_hadd_ps(c, d);
  const __m256 abcd = _mm256_hadd_ps(ab, cd);  // low half: partial sums of a b c d; high half: the rest
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// Lanes below `remaining` (1..7) on, the rest off: the last, partial step over k.
__m256i tail_mask(int64_t remaining) {
  static constexpr int32_t ramp[2 * kLanes] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ramp + kLanes - remaining));
}

// dots[i][r] = x_i · w_r for M rows of x and R rows of w. M·R independent
// accumulators keep both FMA pipes busy; each w vector is loaded once for all
// M rows of x.
template <int M, int R>
void dot_block(const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t k, float (&dots)[M][R]) {
  __m256 acc[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) acc[i][r] = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + kLanes <= k; p += kLanes) {
    __m256 xv[M];
    for (int i = 0; i < M; ++i) xv[i] = _mm256_loadu_ps(x + i * ldx + p);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = _mm256_loadu_ps(w + r * ldw + p);
      for (int i = 0; i < M; ++i) acc[i][r] = _mm256_fmadd_ps(xv[i], wv, acc[i][r]);
    }
  }
  if (p < k) {
    const __m256i mask = tail_mask(k - p);
    __m256 xv[M];
    for (int i = 0; i < M; ++i) xv[i] = _mm256_maskload_ps(x + i * ldx + p, mask);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = _mm256_maskload_ps(w + r * ldw + p, mask);
      for (int i = 0; i < M; ++i) acc[i][r] = _mm256_fmadd_ps(xv[i], wv, acc[i][r]);
    }
  }
  const __m256 zero = _mm256_setzero_ps();
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; r += 4) {
      float four[4];
      _mm_storeu_ps(four, sum4(acc[i][r], r + 1 < R ? acc[i][r + 1] : zero, r + 2 < R ? acc[i][r + 2] : zero,
                               r + 3 < R ? acc[i][r + 3] : zero));
      for (int q = 0; q < 4 && r + q < R; ++q) dots[i][r + q] = four[q];
    }
}

#else

template <int M, int R>
void dot_block(const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t k, float (&dots)[M][R]) {
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) {
      const float* xi = x + i * ldx;
      const float* wr = w + r * ldw;
      float acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t p = 0; p < k; ++p) acc += xi[p] * wr[p];
      dots[i][r] = acc;
    }
}

#endif

template <int M, int R>
void store(const float (&dots)[M][R], float alpha, float beta, float* y, int64_t ldy) {
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) {
      float& out = y[i * ldy + r];
      out = alpha * dots[i][r] + (beta == 0.0f ? 0.0f : beta * out);
    }
}

// R rows of w per block: enough accumulators (M·R ≈ 8) to cover the FMA latency.
template <int M>
void gemv_rows(const GemvShape& s, float alpha, const float* x, const float* w, float beta, float* y) {
  constexpr int R = M == 1 ? 8 : M == 2 ? 4 : 2;
  const int64_t blocks = s.n / R;
#pragma omp parallel for schedule(static) if (s.n * s.k * M > kParallelMacs)
  for (int64_t b = 0; b < blocks; ++b) {
    float dots[M][R];
    dot_block<M, R>(x, s.ldx, w + b * R * s.ldw, s.ldw, s.k, dots);
    store<M, R>(dots, alpha, beta, y + b * R, s.ldy);
  }
  for (int64_t j = blocks * R; j < s.n; ++j) {
    float dots[M][1];
    dot_block<M, 1>(x, s.ldx, w + j * s.ldw, s.ldw, s.k, dots);
    store<M, 1>(dots, alpha, beta, y + j, s.ldy);
  }
}

}  // namespace

void gemv(const GemvShape& s, float alpha, const float* x, const float* w, float beta, float* y) {
  KILN_CHECK(s.m >= 1 && s.m <= kGemvMaxRows, "gemv: {} rows, expected 1 to {}", s.m, kGemvMaxRows);
  switch (s.m) {
    case 1: return gemv_rows<1>(s, alpha, x, w, beta, y);
    case 2: return gemv_rows<2>(s, alpha, x, w, beta, y);
    case 3: return gemv_rows<3>(s, alpha, x, w, beta, y);
    default: return gemv_rows<4>(s, alpha, x, w, beta, y);
  }
}

}  // namespace kiln::cpu
