#pragma once
// Reductions over the middle axis of a contiguous tensor viewed as
// [outer, n, inner] (the axis being reduced is n), for f32 and f64.
#include <cstdint>

namespace kiln::cpu {

// out[a, b] = factor · Σ_i x[a, i, b], accumulated in double.
template <typename T>
void sum_middle(const T* x, int64_t outer, int64_t n, int64_t inner, double factor, T* out);

// out[a, b] = max_i x[a, i, b] and argmax[a, b] = the first i reaching it (n ≥ 1).
template <typename T>
void max_middle(const T* x, int64_t outer, int64_t n, int64_t inner, T* out, int64_t* argmax);

// grad_x[a, argmax[a, b], b] = grad_out[a, b]; the other elements of grad_x are left as they are.
template <typename T>
void max_middle_backward(const T* grad_out, const int64_t* argmax, int64_t outer, int64_t n, int64_t inner,
                         T* grad_x);

// x[i] *= factor for i < count.
template <typename T>
void scale(T* x, int64_t count, double factor);

}  // namespace kiln::cpu
