#include "kiln/kernels/cpu/optimizer.hpp"

#include <cmath>

namespace kiln::cpu {

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    p[i] -= s.lr * s.decay * p[i];
    m[i] = s.beta1 * m[i] + (1 - s.beta1) * g[i];
    v[i] = s.beta2 * v[i] + (1 - s.beta2) * g[i] * g[i];
    p[i] -= s.step_size * m[i] / (std::sqrt(v[i]) * s.inv_sqrt_bc2 + s.eps);
  }
}

void sgd_update(float* w, const float* g, float* momentum, int64_t n, const SgdStep& s) {
  for (int64_t i = 0; i < n; ++i) {
    float direction = g[i] + s.weight_decay * w[i];
    if (s.momentum != 0) {
      momentum[i] = s.first ? direction : s.momentum * momentum[i] + direction;
      direction = s.nesterov ? direction + s.momentum * momentum[i] : momentum[i];
    }
    w[i] -= s.lr * direction;
  }
}

double sum_of_squares(const float* g, int64_t n) {
  double sum = 0;
#pragma omp parallel for simd reduction(+ : sum) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(g[i]) * g[i];
  return sum;
}

void scale_in_place(float* g, int64_t n, float factor) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) g[i] *= factor;
}

}  // namespace kiln::cpu
