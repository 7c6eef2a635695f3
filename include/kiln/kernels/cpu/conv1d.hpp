#pragma once
// 1-D convolution over [B, C_in, L] with weights [C_out, C_in, K] and an
// optional bias [C_out]: im2col per sample, then one GEMM (f32 and f64).
#include <cstdint>

namespace kiln::cpu {

struct Conv1dShape {
  int64_t batch, c_in, length, c_out, kernel, stride, padding, out_length;
};

// y [B, C_out, out_length]; b may be null.
template <typename T>
void conv1d_forward(const T* x, const T* w, const T* b, T* y, const Conv1dShape& shape);

// dx, dw (and db unless null) are overwritten with the gradients of y's gradient g.
template <typename T>
void conv1d_backward(const T* x, const T* w, const T* g, T* dx, T* dw, T* db, const Conv1dShape& shape);

}  // namespace kiln::cpu
