#pragma once
// Row-wise normalisation kernels (LayerNorm, RMSNorm) over contiguous rows of
// length d. Plain functions on pointers; f32 rows are reduced in f64 lanes,
// so an f32 input is normalised at least as accurately as in fp32
// (as the RMSNorm of Meta's llama/model.py and deepseek-ai/DeepSeek-V3's
// inference/model.py, which normalise in fp32 whatever the storage dtype).
#include <cstdint>

namespace kiln::cpu {

// subtract_mean (LayerNorm): y = (x − μ)·rstd·w + b, rstd = 1/sqrt(var + eps), biased variance.
// otherwise (RMSNorm):        y = x·rstd·w,           rstd = 1/sqrt(mean(x²) + eps).
// b may be null. Saves μ (0 for RMSNorm) and rstd per row for the backward.
void norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int64_t rows,
                  int64_t d, double eps, bool subtract_mean);
void norm_forward(const double* x, const double* w, const double* b, double* y, double* mean, double* rstd,
                  int64_t rows, int64_t d, double eps, bool subtract_mean);

// dx = rstd·(g·w − mean(g·w) [LayerNorm only] − x̂·mean(g·w·x̂)),  dw = Σ_rows g·x̂,  db = Σ_rows g.
// dx, dw and db (db may be null) are overwritten. Rows run in parallel; the
// parameter gradients are summed per fixed block of rows in f64 and the blocks
// added in a fixed order, so the result does not depend on the thread count.
void norm_backward(const float* x, const float* w, const float* g, const float* mean, const float* rstd, float* dx,
                   float* dw, float* db, int64_t rows, int64_t d, bool subtract_mean);
void norm_backward(const double* x, const double* w, const double* g, const double* mean, const double* rstd,
                   double* dx, double* dw, double* db, int64_t rows, int64_t d, bool subtract_mean);

// Each of `rows` rows of n elements in place: (x − mean) / sqrt(var + eps),
// var unbiased (n − 1), accumulated in double (MAE's normalised pixel targets).
void standardize_rows(float* x, int64_t rows, int64_t n, double eps);

}  // namespace kiln::cpu
