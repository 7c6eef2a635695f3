#include "kiln/autograd/ops/loss.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kiln/autograd/function.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/kernels/cpu/fast_math.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

template <typename T>
double row_logsumexp(const T* row, int64_t v) {
  T best = row[0];
#pragma omp simd reduction(max : best)
  for (int64_t j = 1; j < v; ++j) best = std::max(best, row[j]);
  double total = 0;
#pragma omp simd reduction(+ : total)
  for (int64_t j = 0; j < v; ++j) total += static_cast<double>(cpu::fast_exp(row[j] - best));
  return static_cast<double>(best) + std::log(total);
}

template <typename T>
double cross_entropy_forward(const T* logits, const int64_t* t, double* lse, int64_t n, int64_t v, int64_t ignore,
                             double eps) {
  double total = 0;
#pragma omp parallel for reduction(+ : total) if (n * v > 65536)
  for (int64_t i = 0; i < n; ++i) {
    if (t[i] == ignore) continue;
    const T* row = logits + i * v;
    lse[i] = row_logsumexp(row, v);
    double nll = lse[i] - static_cast<double>(row[t[i]]);
    if (eps > 0) {
      double sum_logits = 0;
      for (int64_t j = 0; j < v; ++j) sum_logits += row[j];
      nll = (1 - eps) * nll + eps * (lse[i] - sum_logits / static_cast<double>(v));
    }
    total += nll;
  }
  return total;
}

// d logits = scale · (softmax − (1−ε)·onehot − ε/V), written in place of a
// second logits-sized temporary.
template <typename T>
void cross_entropy_backward(const T* logits, const int64_t* t, const double* lse, T* grad, int64_t n, int64_t v,
                            int64_t ignore, double eps, double scale) {
#pragma omp parallel for if (n * v > 65536)
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
    for (int64_t j = 0; j < v; ++j) drow[j] = s * (cpu::fast_exp(row[j] - lse_i) - uniform);
    drow[t[i]] -= s * static_cast<T>(1 - eps);
  }
}

}  // namespace

Tensor cross_entropy(const Tensor& logits_in, const Tensor& targets_in, const CrossEntropyOptions& options) {
  KILN_CHECK(logits_in.dim() == 2, "cross_entropy: logits must be [N, V], got {}", logits_in.describe());
  KILN_CHECK(targets_in.dim() == 1 && targets_in.size(0) == logits_in.size(0),
             "cross_entropy: targets {} do not match logits {}", targets_in.describe(), logits_in.describe());
  KILN_CHECK(options.label_smoothing >= 0 && options.label_smoothing <= 1,
             "cross_entropy: label_smoothing must be in [0, 1], got {}", options.label_smoothing);
  const Tensor logits = logits_in.contiguous();
  const Tensor targets = targets_in.to(DType::i64).contiguous();
  const int64_t n = logits.size(0), v = logits.size(1);
  const int64_t* t = targets.data<int64_t>();
  int64_t counted = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (t[i] == options.ignore_index) continue;
    KILN_CHECK(t[i] >= 0 && t[i] < v, "cross_entropy: target {} at row {} is outside [0, {})", t[i], i, v);
    ++counted;
  }
  const int64_t divisor = options.normalizer > 0 ? options.normalizer : counted;
  const double eps = options.label_smoothing;
  Tensor lse = Tensor::empty({n}, DType::f64);
  double* plse = lse.data<double>();
  double total = 0;
  KILN_DISPATCH_FLOATING(logits.dtype(), "cross_entropy", [&] {
    total = cross_entropy_forward(logits.data<scalar_t>(), t, plse, n, v, options.ignore_index, eps);
  });
  Tensor out = Tensor::scalar(divisor > 0 ? total / static_cast<double>(divisor) : 0.0, logits.dtype());
  return record("cross_entropy", {logits_in, targets_in}, {out},
                [logits, targets, lse, divisor, eps, ignore = options.ignore_index](const TensorList& g) {
                  const int64_t n = logits.size(0), v = logits.size(1);
                  const int64_t* t = targets.data<int64_t>();
                  const double* plse = lse.data<double>();
                  Tensor grad = Tensor::empty(logits.shape(), logits.dtype());
                  const double upstream = g[0].item();
                  const double scale = divisor > 0 ? upstream / static_cast<double>(divisor) : 0.0;
                  KILN_DISPATCH_FLOATING(logits.dtype(), "cross_entropy", [&] {
                    cross_entropy_backward(logits.data<scalar_t>(), t, plse, grad.data<scalar_t>(), n, v, ignore, eps,
                                           scale);
                  });
                  return TensorList{grad, Tensor()};
                })[0];
}

Tensor mse_loss(const Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "mse_loss");
  return mean(square(sub(a, b)));
}

}  // namespace kiln::ops
