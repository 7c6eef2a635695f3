#include "kiln/kernels/cpu/conv1d.hpp"

#include <algorithm>
#include <vector>

#include "kiln/kernels/cpu/gemm.hpp"

namespace kiln::cpu {

namespace {

// columns[(c·K + k), t] = x[c, t·stride + k − padding] (0 outside).
template <typename T>
void im2col(const T* x, T* columns, const Conv1dShape& s) {
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
void col2im_add(const T* columns, T* dx, const Conv1dShape& s) {
  for (int64_t c = 0; c < s.c_in; ++c)
    for (int64_t k = 0; k < s.kernel; ++k) {
      const T* row = columns + (c * s.kernel + k) * s.out_length;
      for (int64_t t = 0; t < s.out_length; ++t) {
        const int64_t at = t * s.stride + k - s.padding;
        if (at >= 0 && at < s.length) dx[c * s.length + at] += row[t];
      }
    }
}

}  // namespace

template <typename T>
void conv1d_forward(const T* x, const T* w, const T* b, T* y, const Conv1dShape& s) {
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
void conv1d_backward(const T* x, const T* w, const T* g, T* dx, T* dw, T* db, const Conv1dShape& s) {
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

template void conv1d_forward<float>(const float*, const float*, const float*, float*, const Conv1dShape&);
template void conv1d_forward<double>(const double*, const double*, const double*, double*, const Conv1dShape&);
template void conv1d_backward<float>(const float*, const float*, const float*, float*, float*, float*,
                                     const Conv1dShape&);
template void conv1d_backward<double>(const double*, const double*, const double*, double*, double*, double*,
                                      const Conv1dShape&);

}  // namespace kiln::cpu
