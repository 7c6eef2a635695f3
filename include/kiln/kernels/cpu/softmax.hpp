#pragma once
// Softmax and fused softmax cross-entropy over contiguous rows. Plain
// functions on pointers. f32 rows use the vectorisable exp of fast_math.hpp
// with f64 row sums; f64 rows use libm (they serve gradient checks).
#include <cstdint>

namespace kiln::cpu {

// y = softmax(x) or log_softmax(x) per row of length d, shifted by the row maximum.
void softmax_forward(const float* x, float* y, int64_t rows, int64_t d, bool log_form);
void softmax_forward(const double* x, double* y, int64_t rows, int64_t d, bool log_form);

// From the saved output y: softmax dx = y ∘ (g − Σ g∘y); log_softmax dx = g − e^y · Σ g.
void softmax_backward(const float* y, const float* g, float* dx, int64_t rows, int64_t d, bool log_form);
void softmax_backward(const double* y, const double* g, double* dx, int64_t rows, int64_t d, bool log_form);

// Cross-entropy over logits [n, v] and targets [n] (rows whose target is
// ignore_index are skipped; every other target must lie in [0, v)). With
// label smoothing ε the row loss is (1−ε)·(lse − x_t) + ε·(lse − mean_j x_j),
// as torch. Writes each counted row's log-sum-exp to lse[n] (the only state
// the backward needs) and returns the summed loss.
double cross_entropy_forward(const float* logits, const int64_t* targets, double* lse, int64_t n, int64_t v,
                             int64_t ignore_index, double label_smoothing);
double cross_entropy_forward(const double* logits, const int64_t* targets, double* lse, int64_t n, int64_t v,
                             int64_t ignore_index, double label_smoothing);

// grad = scale · (softmax(logits) − (1−ε)·onehot(target) − ε/v), written
// straight into grad [n, v]; ignored rows get 0.
void cross_entropy_backward(const float* logits, const int64_t* targets, const double* lse, float* grad, int64_t n,
                            int64_t v, int64_t ignore_index, double label_smoothing, double scale);
void cross_entropy_backward(const double* logits, const int64_t* targets, const double* lse, double* grad, int64_t n,
                            int64_t v, int64_t ignore_index, double label_smoothing, double scale);

}  // namespace kiln::cpu
