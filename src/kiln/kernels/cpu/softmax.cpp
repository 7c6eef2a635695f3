#include "kiln/kernels/cpu/softmax.hpp"

#include <algorithm>
#include <cmath>

#include "kiln/kernels/cpu/fast_math.hpp"

namespace kiln::cpu {

namespace {

// Below this many elements the OpenMP fork costs more than it saves.
constexpr int64_t kParallelElements = 65536;

template <typename T>
T row_max(const T* x, int64_t d) {
  T best = x[0];
#pragma omp simd reduction(max : best)
  for (int64_t i = 1; i < d; ++i) best = std::max(best, x[i]);
  return best;
}

template <typename T>
void forward(const T* x, T* y, int64_t rows, int64_t d, bool log_form) {
#pragma omp parallel for schedule(static) if (rows * d > kParallelElements)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    const T best = row_max(xr, d);
    double total = 0;
    if (log_form) {
#pragma omp simd reduction(+ : total)
      for (int64_t i = 0; i < d; ++i) total += static_cast<double>(fast_exp(xr[i] - best));
      // (x − max) first: exact for nearby values, whereas max + log Σ rounded
      // to f32 would lose its low bits when |max| is large.
      const T log_total = static_cast<T>(std::log(total));
#pragma omp simd
      for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] - best) - log_total;
    } else {
#pragma omp simd reduction(+ : total)
      for (int64_t i = 0; i < d; ++i) {
        const T e = fast_exp(xr[i] - best);
        yr[i] = e;
        total += static_cast<double>(e);
      }
      const T inverse = static_cast<T>(1.0 / total);
#pragma omp simd
      for (int64_t i = 0; i < d; ++i) yr[i] *= inverse;
    }
  }
}

template <typename T>
void backward(const T* y, const T* g, T* dx, int64_t rows, int64_t d, bool log_form) {
#pragma omp parallel for schedule(static) if (rows * d > kParallelElements)
  for (int64_t r = 0; r < rows; ++r) {
    const T* yr = y + r * d;
    const T* gr = g + r * d;
    T* dr = dx + r * d;
    double dot = 0;
    if (log_form) {
#pragma omp simd reduction(+ : dot)
      for (int64_t i = 0; i < d; ++i) dot += static_cast<double>(gr[i]);
      const T s = static_cast<T>(dot);
#pragma omp simd
      for (int64_t i = 0; i < d; ++i) dr[i] = gr[i] - fast_exp(yr[i]) * s;
    } else {
#pragma omp simd reduction(+ : dot)
      for (int64_t i = 0; i < d; ++i) dot += static_cast<double>(gr[i] * yr[i]);
      const T s = static_cast<T>(dot);
#pragma omp simd
      for (int64_t i = 0; i < d; ++i) dr[i] = yr[i] * (gr[i] - s);
    }
  }
}

template <typename T>
double ce_forward(const T* logits, const int64_t* t, double* lse, int64_t n, int64_t v, int64_t ignore, double eps) {
  double loss = 0;
#pragma omp parallel for schedule(static) reduction(+ : loss) if (n * v > kParallelElements)
  for (int64_t i = 0; i < n; ++i) {
    if (t[i] == ignore) continue;
    const T* row = logits + i * v;
    const T best = row_max(row, v);
    double total = 0, sum_logits = 0;
    if (eps > 0) {
#pragma omp simd reduction(+ : total, sum_logits)
      for (int64_t j = 0; j < v; ++j) {
        total += static_cast<double>(fast_exp(row[j] - best));
        sum_logits += static_cast<double>(row[j]);
      }
    } else {
#pragma omp simd reduction(+ : total)
      for (int64_t j = 0; j < v; ++j) total += static_cast<double>(fast_exp(row[j] - best));
    }
    lse[i] = static_cast<double>(best) + std::log(total);
    const double nll = lse[i] - static_cast<double>(row[t[i]]);
    loss += eps > 0 ? (1 - eps) * nll + eps * (lse[i] - sum_logits / static_cast<double>(v)) : nll;
  }
  return loss;
}

template <typename T>
void ce_backward(const T* logits, const int64_t* t, const double* lse, T* grad, int64_t n, int64_t v, int64_t ignore,
                 double eps, double scale) {
#pragma omp parallel for schedule(static) if (n * v > kParallelElements)
  for (int64_t i = 0; i < n; ++i) {
    T* drow = grad + i * v;
    if (t[i] == ignore) {
      std::fill(drow, drow + v, T{0});
      continue;
    }
    const T* row = logits + i * v;
    const T lse_i = static_cast<T>(lse[i]);
    const T s = static_cast<T>(scale);
    const T uniform = static_cast<T>(eps / static_cast<double>(v));
#pragma omp simd
    for (int64_t j = 0; j < v; ++j) drow[j] = s * (fast_exp(row[j] - lse_i) - uniform);
    drow[t[i]] -= s * static_cast<T>(1 - eps);
  }
}

}  // namespace

void softmax_forward(const float* x, float* y, int64_t rows, int64_t d, bool log_form) {
  forward(x, y, rows, d, log_form);
}
void softmax_forward(const double* x, double* y, int64_t rows, int64_t d, bool log_form) {
  forward(x, y, rows, d, log_form);
}
void softmax_backward(const float* y, const float* g, float* dx, int64_t rows, int64_t d, bool log_form) {
  backward(y, g, dx, rows, d, log_form);
}
void softmax_backward(const double* y, const double* g, double* dx, int64_t rows, int64_t d, bool log_form) {
  backward(y, g, dx, rows, d, log_form);
}

double cross_entropy_forward(const float* logits, const int64_t* targets, double* lse, int64_t n, int64_t v,
                             int64_t ignore_index, double label_smoothing) {
  return ce_forward(logits, targets, lse, n, v, ignore_index, label_smoothing);
}
double cross_entropy_forward(const double* logits, const int64_t* targets, double* lse, int64_t n, int64_t v,
                             int64_t ignore_index, double label_smoothing) {
  return ce_forward(logits, targets, lse, n, v, ignore_index, label_smoothing);
}
void cross_entropy_backward(const float* logits, const int64_t* targets, const double* lse, float* grad, int64_t n,
                            int64_t v, int64_t ignore_index, double label_smoothing, double scale) {
  ce_backward(logits, targets, lse, grad, n, v, ignore_index, label_smoothing, scale);
}
void cross_entropy_backward(const double* logits, const int64_t* targets, const double* lse, double* grad, int64_t n,
                            int64_t v, int64_t ignore_index, double label_smoothing, double scale) {
  ce_backward(logits, targets, lse, grad, n, v, ignore_index, label_smoothing, scale);
}

}  // namespace kiln::cpu
