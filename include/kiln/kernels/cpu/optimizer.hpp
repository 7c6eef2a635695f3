#pragma once
// Element-wise optimizer updates and gradient-norm helpers on contiguous f32
// buffers of n elements (the loops optim/ runs per parameter; a second
// backend implements these).
#include <cstdint>

namespace kiln::cpu {

// One AdamW step (decoupled weight decay, Loshchilov & Hutter, arXiv 1711.05101):
//   p ← p − lr·decay·p;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
//   p ← p − step_size·m / (√v · inv_sqrt_bc2 + eps),
// with step_size = lr / (1 − β1^t) and inv_sqrt_bc2 = 1 / √(1 − β2^t).
struct AdamWStep {
  float lr, beta1, beta2, eps, decay, step_size, inv_sqrt_bc2;
};
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& step);

// One SGD step as torch.optim.SGD takes it: d = g + weight_decay·w; with
// momentum μ ≠ 0, buf ← μ·buf + d (buf ← d when `first`), then
// d = nesterov ? d + μ·buf : buf; finally w ← w − lr·d. `momentum` may be
// null when μ = 0.
struct SgdStep {
  float lr, weight_decay, momentum;
  bool nesterov, first;
};
void sgd_update(float* w, const float* g, float* momentum, int64_t n, const SgdStep& step);

// Σ g[i]² accumulated in f64.
double sum_of_squares(const float* g, int64_t n);
// g[i] *= factor.
void scale_in_place(float* g, int64_t n, float factor);

}  // namespace kiln::cpu
