#include "kiln/autograd/ops/norm.hpp"

#include <cmath>

#include "kiln/autograd/function.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

void check_norm_args(const Tensor& x, const Tensor& weight, const Tensor& bias, const char* op) {
  KILN_CHECK(x.dim() >= 1, "{}: input {} has no last dimension", op, x.describe());
  KILN_CHECK(weight.dim() == 1 && weight.size(0) == x.size(-1), "{}: weight {} does not match input {}", op,
             weight.describe(), x.describe());
  KILN_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == x.size(-1)), "{}: bias {} does not match input {}",
             op, bias.describe(), x.describe());
  check_same_dtype(x, weight, op);
}

// Forward of both norms on contiguous rows; saves per-row mean and rstd.
template <typename T>
void norm_forward(const T* x, const T* w, const T* b, T* y, T* mean_out, T* rstd_out, int64_t rows, int64_t d,
                  double eps, bool subtract_mean) {
#pragma omp parallel for if (rows * d > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    double mean = 0;
    if (subtract_mean) {
      for (int64_t i = 0; i < d; ++i) mean += xr[i];
      mean /= static_cast<double>(d);
    }
    double ss = 0;
    for (int64_t i = 0; i < d; ++i) {
      const double c = xr[i] - mean;
      ss += c * c;
    }
    const T rstd = static_cast<T>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
    const T m = static_cast<T>(mean);
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] - m) * rstd * w[i] + (b ? b[i] : T{0});
    mean_out[r] = m;
    rstd_out[r] = rstd;
  }
}

// dx = rstd · (g·w − mean(g·w) [layernorm only] − x̂ · mean(g·w·x̂)); dw = Σ g·x̂; db = Σ g.
template <typename T>
void norm_backward(const T* x, const T* w, const T* g, const T* mean, const T* rstd, T* dx, T* dw, T* db,
                   int64_t rows, int64_t d, bool subtract_mean) {
  for (int64_t i = 0; i < d; ++i) {
    dw[i] = 0;
    if (db) db[i] = 0;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    const T* gr = g + r * d;
    T* dxr = dx + r * d;
    double sum_gw = 0, sum_gwx = 0;
    for (int64_t i = 0; i < d; ++i) {
      const double xhat = (xr[i] - mean[r]) * rstd[r];
      const double gw = static_cast<double>(gr[i]) * w[i];
      sum_gw += gw;
      sum_gwx += gw * xhat;
      dw[i] += static_cast<T>(gr[i] * xhat);
      if (db) db[i] += gr[i];
    }
    const double n = static_cast<double>(d);
    const T a = static_cast<T>(subtract_mean ? sum_gw / n : 0.0);
    const T c = static_cast<T>(sum_gwx / n);
    for (int64_t i = 0; i < d; ++i) {
      const T xhat = (xr[i] - mean[r]) * rstd[r];
      dxr[i] = rstd[r] * (gr[i] * w[i] - a - xhat * c);
    }
  }
}

Tensor normalise(const Tensor& x_in, const Tensor& weight, const Tensor& bias, double eps, bool layer, const char* op) {
  check_norm_args(x_in, weight, bias, op);
  const Tensor x = x_in.contiguous();
  const int64_t d = x.size(-1), rows = x.numel() / std::max<int64_t>(d, 1);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor mean = Tensor::empty({rows}, x.dtype()), rstd = Tensor::empty({rows}, x.dtype());
  const Tensor w = weight.contiguous(), b = bias.defined() ? bias.contiguous() : Tensor();
  KILN_DISPATCH_FLOATING(x.dtype(), op, [&] {
    norm_forward<scalar_t>(x.data<scalar_t>(), w.data<scalar_t>(), b.defined() ? b.data<scalar_t>() : nullptr,
                           y.data<scalar_t>(), mean.data<scalar_t>(), rstd.data<scalar_t>(), rows, d, eps, layer);
  });
  TensorList inputs{x_in, weight};
  if (bias.defined()) inputs.push_back(bias);
  return record(op, inputs, {y}, [x, w, mean, rstd, layer, has_bias = bias.defined(), op](const TensorList& grads) {
    const Tensor g = grads[0].contiguous();
    const int64_t d = x.size(-1), rows = x.numel() / std::max<int64_t>(d, 1);
    Tensor dx = Tensor::empty(x.shape(), x.dtype()), dw = Tensor::empty(w.shape(), w.dtype());
    Tensor db = has_bias ? Tensor::empty(w.shape(), w.dtype()) : Tensor();
    KILN_DISPATCH_FLOATING(x.dtype(), op, [&] {
      norm_backward<scalar_t>(x.data<scalar_t>(), w.data<scalar_t>(), g.data<scalar_t>(), mean.data<scalar_t>(),
                              rstd.data<scalar_t>(), dx.data<scalar_t>(), dw.data<scalar_t>(),
                              has_bias ? db.data<scalar_t>() : nullptr, rows, d, layer);
    });
    TensorList out{dx, dw};
    if (has_bias) out.push_back(db);
    return out;
  })[0];
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return normalise(x, weight, bias, eps, true, "layer_norm");
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  return normalise(x, weight, Tensor(), eps, false, "rms_norm");
}

}  // namespace kiln::ops
