#include "kiln/autograd/ops/conv.hpp"

#include <vector>

#include "kiln/autograd/function.hpp"
#include "kiln/kernels/cpu/gemm.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

struct ConvShape {
  int64_t batch, c_in, length, c_out, kernel, stride, padding, out_length;
};

// columns[(c·K + k), t] = x[c, t·stride + k − padding] (0 outside).
template <typename T>
void im2col(const T* x, T* columns, const ConvShape& s) {
  for (int64_t c = 0; c < s.c_in; ++c)
    for (int64_t k = 0; k < s.kernel; ++k) {
      T* row = columns + (c * s.kernel + k) * s.out_length;
      for (int64_t t = 0; t < s.out_length; ++t) {
        const int64_t at = t * s.stride + k - s.padding;
        row[t] = at >= 0 && at < s.length ? x[c * s.length + at] : T{0};
      }
    }
}

template <typename T>
void col2im_add(const T* columns, T* dx, const ConvShape& s) {
  for (int64_t c = 0; c < s.c_in; ++c)
    for (int64_t k = 0; k < s.kernel; ++k) {
      const T* row = columns + (c * s.kernel + k) * s.out_length;
      for (int64_t t = 0; t < s.out_length; ++t) {
        const int64_t at = t * s.stride + k - s.padding;
        if (at >= 0 && at < s.length) dx[c * s.length + at] += row[t];
      }
    }
}

template <typename T>
void conv_forward(const T* x, const T* w, const T* b, T* y, const ConvShape& s) {
  const int64_t rows = s.c_in * s.kernel;
#pragma omp parallel
  {
    std::vector<T> columns(static_cast<size_t>(rows * s.out_length));
#pragma omp for
    for (int64_t n = 0; n < s.batch; ++n) {
      im2col(x + n * s.c_in * s.length, columns.data(), s);
      T* out = y + n * s.c_out * s.out_length;
      cpu::gemm(cpu::GemmShape{false, false, s.c_out, s.out_length, rows, rows, s.out_length, s.out_length}, T{1}, w,
                columns.data(), T{0}, out);
      if (b)
        for (int64_t o = 0; o < s.c_out; ++o)
          for (int64_t t = 0; t < s.out_length; ++t) out[o * s.out_length + t] += b[o];
    }
  }
}

template <typename T>
void conv_backward(const T* x, const T* w, const T* g, T* dx, T* dw, T* db, const ConvShape& s) {
  const int64_t rows = s.c_in * s.kernel;
  std::vector<T> columns(static_cast<size_t>(rows * s.out_length)), dcolumns(columns.size());
  std::fill(dx, dx + s.batch * s.c_in * s.length, T{0});
  std::fill(dw, dw + s.c_out * rows, T{0});
  if (db) std::fill(db, db + s.c_out, T{0});
  for (int64_t n = 0; n < s.batch; ++n) {
    const T* gn = g + n * s.c_out * s.out_length;
    im2col(x + n * s.c_in * s.length, columns.data(), s);
    // dW += G · colsᵀ ; dcols = Wᵀ · G
    cpu::gemm(cpu::GemmShape{false, true, s.c_out, rows, s.out_length, s.out_length, s.out_length, rows}, T{1}, gn,
              columns.data(), T{1}, dw);
    cpu::gemm(cpu::GemmShape{true, false, rows, s.out_length, s.c_out, rows, s.out_length, s.out_length}, T{1}, w, gn,
              T{0}, dcolumns.data());
    col2im_add(dcolumns.data(), dx + n * s.c_in * s.length, s);
    if (db)
      for (int64_t o = 0; o < s.c_out; ++o)
        for (int64_t t = 0; t < s.out_length; ++t) db[o] += gn[o * s.out_length + t];
  }
}

}  // namespace

Tensor conv1d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias_in, int64_t stride, int64_t padding) {
  KILN_CHECK(x_in.dim() == 3, "conv1d: input must be [B, C_in, L], got {}", x_in.describe());
  KILN_CHECK(weight_in.dim() == 3 && weight_in.size(1) == x_in.size(1),
             "conv1d: weight {} does not match input {} (expected [C_out, {}, K])", weight_in.describe(),
             x_in.describe(), x_in.size(1));
  KILN_CHECK(!bias_in.defined() || (bias_in.dim() == 1 && bias_in.size(0) == weight_in.size(0)),
             "conv1d: bias {} does not match weight {}", bias_in.describe(), weight_in.describe());
  KILN_CHECK(stride >= 1 && padding >= 0, "conv1d: stride must be ≥ 1 and padding ≥ 0");
  check_same_dtype(x_in, weight_in, "conv1d");
  ConvShape s{x_in.size(0), x_in.size(1), x_in.size(2), weight_in.size(0), weight_in.size(2), stride, padding, 0};
  KILN_CHECK(s.length + 2 * padding >= s.kernel, "conv1d: input {} is shorter than the kernel {}", x_in.describe(),
             s.kernel);
  s.out_length = (s.length + 2 * padding - s.kernel) / stride + 1;
  const Tensor x = x_in.contiguous(), w = weight_in.contiguous(), b = bias_in.defined() ? bias_in.contiguous() : Tensor();
  Tensor y = Tensor::empty({s.batch, s.c_out, s.out_length}, x.dtype());
  KILN_DISPATCH_FLOATING(x.dtype(), "conv1d", [&] {
    conv_forward<scalar_t>(x.data<scalar_t>(), w.data<scalar_t>(), b.defined() ? b.data<scalar_t>() : nullptr,
                           y.data<scalar_t>(), s);
  });
  TensorList inputs{x_in, weight_in};
  if (bias_in.defined()) inputs.push_back(bias_in);
  return record("conv1d", inputs, {y}, [x, w, has_bias = b.defined(), s](const TensorList& grads) {
    const Tensor g = grads[0].contiguous();
    Tensor dx = Tensor::empty(x.shape(), x.dtype()), dw = Tensor::empty(w.shape(), w.dtype());
    Tensor db = has_bias ? Tensor::empty({s.c_out}, w.dtype()) : Tensor();
    KILN_DISPATCH_FLOATING(x.dtype(), "conv1d", [&] {
      conv_backward<scalar_t>(x.data<scalar_t>(), w.data<scalar_t>(), g.data<scalar_t>(), dx.data<scalar_t>(),
                              dw.data<scalar_t>(), has_bias ? db.data<scalar_t>() : nullptr, s);
    });
    TensorList out{dx, dw};
    if (has_bias) out.push_back(db);
    return out;
  })[0];
}

}  // namespace kiln::ops
