#include "kiln/kernels/cpu/norm.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace kiln::cpu {

namespace {

// Below this many elements the OpenMP fork costs more than it saves.
constexpr int64_t kParallelElements = 32768;
// The parameter gradients are reduced over at most this many fixed row blocks.
constexpr int64_t kMaxBlocks = 64;

template <typename T>
void forward(const T* x, const T* w, const T* b, T* y, T* mean_out, T* rstd_out, int64_t rows, int64_t d, double eps,
             bool subtract_mean) {
#pragma omp parallel for schedule(static) if (rows * d > kParallelElements)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    double mean = 0;
    if (subtract_mean) {
#pragma omp simd reduction(+ : mean)
      for (int64_t i = 0; i < d; ++i) mean += static_cast<double>(xr[i]);
      mean /= static_cast<double>(d);
    }
    double ss = 0;  // two passes: Σ(x − μ)² has no cancellation
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < d; ++i) {
      const double c = static_cast<double>(xr[i]) - mean;
      ss += c * c;
    }
    const T rstd = static_cast<T>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
    const T m = static_cast<T>(mean);
    if (b != nullptr) {
#pragma omp simd
      for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] - m) * rstd * w[i] + b[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] - m) * rstd * w[i];
    }
    mean_out[r] = m;
    rstd_out[r] = rstd;
  }
}

template <typename T>
void backward(const T* x, const T* w, const T* g, const T* mean, const T* rstd, T* dx, T* dw, T* db, int64_t rows,
              int64_t d, bool subtract_mean) {
  const int64_t blocks = std::clamp<int64_t>(rows, 1, kMaxBlocks);
  const int64_t block_rows = (rows + blocks - 1) / std::max<int64_t>(blocks, 1);
  std::vector<double> partial_w(static_cast<size_t>(blocks * d), 0.0);
  std::vector<double> partial_b(db != nullptr ? static_cast<size_t>(blocks * d) : 0, 0.0);
  const double inv_d = 1.0 / static_cast<double>(d);
#pragma omp parallel for schedule(static) if (rows * d > kParallelElements)
  for (int64_t block = 0; block < blocks; ++block) {
    double* pw = partial_w.data() + block * d;
    double* pb = db != nullptr ? partial_b.data() + block * d : nullptr;
    const int64_t end = std::min(rows, (block + 1) * block_rows);
    for (int64_t r = block * block_rows; r < end; ++r) {
      const T* xr = x + r * d;
      const T* gr = g + r * d;
      T* dxr = dx + r * d;
      const T m = mean[r], s = rstd[r];
      double sum_gw = 0, sum_gwx = 0;
#pragma omp simd reduction(+ : sum_gw, sum_gwx)
      for (int64_t i = 0; i < d; ++i) {
        const T xhat = (xr[i] - m) * s;
        const T gw = gr[i] * w[i];
        sum_gw += static_cast<double>(gw);
        sum_gwx += static_cast<double>(gw * xhat);
        pw[i] += static_cast<double>(gr[i] * xhat);
      }
      if (pb != nullptr) {
#pragma omp simd
        for (int64_t i = 0; i < d; ++i) pb[i] += static_cast<double>(gr[i]);
      }
      const T a = static_cast<T>(subtract_mean ? sum_gw * inv_d : 0.0);
      const T c = static_cast<T>(sum_gwx * inv_d);
#pragma omp simd
      for (int64_t i = 0; i < d; ++i) {
        const T xhat = (xr[i] - m) * s;
        dxr[i] = s * (gr[i] * w[i] - a - xhat * c);
      }
    }
  }
  // Blocks are added in a fixed order, whatever thread computed them.
  std::vector<double> total(static_cast<size_t>(d), 0.0);
  for (int64_t block = 0; block < blocks; ++block) {
    const double* pw = partial_w.data() + block * d;
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) total[i] += pw[i];
  }
  for (int64_t i = 0; i < d; ++i) dw[i] = static_cast<T>(total[i]);
  if (db != nullptr) {
    std::fill(total.begin(), total.end(), 0.0);
    for (int64_t block = 0; block < blocks; ++block) {
      const double* pb = partial_b.data() + block * d;
#pragma omp simd
      for (int64_t i = 0; i < d; ++i) total[i] += pb[i];
    }
    for (int64_t i = 0; i < d; ++i) db[i] = static_cast<T>(total[i]);
  }
}

}  // namespace

void norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int64_t rows,
                  int64_t d, double eps, bool subtract_mean) {
  forward(x, w, b, y, mean, rstd, rows, d, eps, subtract_mean);
}
void norm_forward(const double* x, const double* w, const double* b, double* y, double* mean, double* rstd,
                  int64_t rows, int64_t d, double eps, bool subtract_mean) {
  forward(x, w, b, y, mean, rstd, rows, d, eps, subtract_mean);
}

void norm_backward(const float* x, const float* w, const float* g, const float* mean, const float* rstd, float* dx,
                   float* dw, float* db, int64_t rows, int64_t d, bool subtract_mean) {
  backward(x, w, g, mean, rstd, dx, dw, db, rows, d, subtract_mean);
}
void norm_backward(const double* x, const double* w, const double* g, const double* mean, const double* rstd,
                   double* dx, double* dw, double* db, int64_t rows, int64_t d, bool subtract_mean) {
  backward(x, w, g, mean, rstd, dx, dw, db, rows, d, subtract_mean);
}

void standardize_rows(float* x, int64_t rows, int64_t n, double eps) {
  for (int64_t row = 0; row < rows; ++row) {
    float* t = x + row * n;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += t[i];
    mean /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) var += (t[i] - mean) * (t[i] - mean);
    var /= static_cast<double>(std::max<int64_t>(n - 1, 1));
    const double scale = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < n; ++i) t[i] = static_cast<float>((t[i] - mean) * scale);
  }
}

}  // namespace kiln::cpu
