#include "kiln/kernels/cpu/swiglu.hpp"

#include "kiln/kernels/cpu/fast_math.hpp"

namespace kiln::cpu {

template <typename T>
void swiglu_backward(const T* g, const T* gate, const T* up, T* d_gate, T* d_up, int64_t n) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const T s = fast_sigmoid(gate[i]);
    d_gate[i] = g[i] * up[i] * s * (T(1) + gate[i] * (T(1) - s));
    d_up[i] = g[i] * gate[i] * s;
  }
}

template void swiglu_backward<float>(const float*, const float*, const float*, float*, float*, int64_t);
template void swiglu_backward<double>(const double*, const double*, const double*, double*, double*, int64_t);

}  // namespace kiln::cpu
