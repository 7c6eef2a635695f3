#include "kiln/autograd/ops/softmax.hpp"

#include <cmath>

#include "kiln/autograd/function.hpp"
#include "kiln/kernels/cpu/fast_math.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

template <typename T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t d, bool log_form) {
#pragma omp parallel for if (rows * d > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    T best = xr[0];
    for (int64_t i = 1; i < d; ++i) best = std::max(best, xr[i]);
    double total = 0;
#pragma omp simd reduction(+ : total)
    for (int64_t i = 0; i < d; ++i) total += static_cast<double>(cpu::fast_exp(xr[i] - best));
    const T log_total = static_cast<T>(std::log(total));
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) yr[i] = log_form ? xr[i] - best - log_total : cpu::fast_exp(xr[i] - best - log_total);
  }
}

// softmax: dx = y ∘ (g − Σ g∘y);  log_softmax: dx = g − softmax ∘ Σ g.
template <typename T>
void softmax_rows_backward(const T* y, const T* g, T* dx, int64_t rows, int64_t d, bool log_form) {
#pragma omp parallel for if (rows * d > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const T* yr = y + r * d;
    const T* gr = g + r * d;
    T* dr = dx + r * d;
    double dot = 0;
    for (int64_t i = 0; i < d; ++i) dot += log_form ? gr[i] : gr[i] * yr[i];
    const T s = static_cast<T>(dot);
    for (int64_t i = 0; i < d; ++i) dr[i] = log_form ? gr[i] - cpu::fast_exp(yr[i]) * s : yr[i] * (gr[i] - s);
  }
}

Tensor softmax_op(const Tensor& x_in, bool log_form, const char* name) {
  KILN_CHECK(x_in.dim() >= 1 && x_in.size(-1) > 0, "{}: input {} has an empty last dimension", name, x_in.describe());
  const Tensor x = x_in.contiguous();
  const int64_t d = x.size(-1), rows = x.numel() / d;
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  KILN_DISPATCH_FLOATING(x.dtype(), name, [&] {
    softmax_rows<scalar_t>(x.data<scalar_t>(), y.data<scalar_t>(), rows, d, log_form);
  });
  return record(name, {x_in}, {y}, [y = y.detach(), log_form, name](const TensorList& g) {
    const Tensor gc = g[0].contiguous();
    const int64_t d = y.size(-1), rows = y.numel() / d;
    Tensor dx = Tensor::empty(y.shape(), y.dtype());
    KILN_DISPATCH_FLOATING(y.dtype(), name, [&] {
      softmax_rows_backward<scalar_t>(y.data<scalar_t>(), gc.data<scalar_t>(), dx.data<scalar_t>(), rows, d, log_form);
    });
    return TensorList{dx};
  })[0];
}

}  // namespace

Tensor softmax(const Tensor& x) { return softmax_op(x, false, "softmax"); }
Tensor log_softmax(const Tensor& x) { return softmax_op(x, true, "log_softmax"); }

}  // namespace kiln::ops
