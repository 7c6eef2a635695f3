#include "kiln/kernels/cpu/reduce.hpp"

namespace kiln::cpu {

template <typename T>
void sum_middle(const T* x, int64_t outer, int64_t n, int64_t inner, double factor, T* out) {
  for (int64_t a = 0; a < outer; ++a)
    for (int64_t b = 0; b < inner; ++b) {
      double acc = 0;
      for (int64_t i = 0; i < n; ++i) acc += x[(a * n + i) * inner + b];
      out[a * inner + b] = static_cast<T>(acc * factor);
    }
}

template <typename T>
void max_middle(const T* x, int64_t outer, int64_t n, int64_t inner, T* out, int64_t* argmax) {
  for (int64_t a = 0; a < outer; ++a)
    for (int64_t b = 0; b < inner; ++b) {
      int64_t best = 0;
      for (int64_t i = 1; i < n; ++i)
        if (x[(a * n + i) * inner + b] > x[(a * n + best) * inner + b]) best = i;
      argmax[a * inner + b] = best;
      out[a * inner + b] = x[(a * n + best) * inner + b];
    }
}

template <typename T>
void max_middle_backward(const T* grad_out, const int64_t* argmax, int64_t outer, int64_t n, int64_t inner,
                         T* grad_x) {
  for (int64_t a = 0; a < outer; ++a)
    for (int64_t b = 0; b < inner; ++b) grad_x[(a * n + argmax[a * inner + b]) * inner + b] = grad_out[a * inner + b];
}

template <typename T>
void scale(T* x, int64_t count, double factor) {
  for (int64_t i = 0; i < count; ++i) x[i] = static_cast<T>(x[i] * factor);
}

#define KILN_REDUCE_INSTANTIATE(T)                                                                     \
  template void sum_middle<T>(const T*, int64_t, int64_t, int64_t, double, T*);                        \
  template void max_middle<T>(const T*, int64_t, int64_t, int64_t, T*, int64_t*);                      \
  template void max_middle_backward<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*);      \
  template void scale<T>(T*, int64_t, double);
KILN_REDUCE_INSTANTIATE(float)
KILN_REDUCE_INSTANTIATE(double)
#undef KILN_REDUCE_INSTANTIATE

}  // namespace kiln::cpu
