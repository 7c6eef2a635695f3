#include "kiln/kernels/cpu/gemm.hpp"

#include <dnnl.h>

#include <vector>

#include "kiln/base/error.hpp"

namespace kiln::cpu {

void gemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c) {
  if (s.m == 0 || s.n == 0) return;
  const dnnl_status_t status = dnnl_sgemm(s.trans_a ? 'T' : 'N', s.trans_b ? 'T' : 'N', s.m, s.n, s.k, alpha, a,
                                          s.lda, b, s.ldb, beta, c, s.ldc);
  KILN_CHECK(status == dnnl_success, "gemm: oneDNN sgemm failed with status {}", static_cast<int>(status));
}

void gemm(const GemmShape& s, double alpha, const double* a, const double* b, double beta, double* c) {
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < s.k; ++p) {
        const double av = s.trans_a ? a[p * s.lda + i] : a[i * s.lda + p];
        const double bv = s.trans_b ? b[j * s.ldb + p] : b[p * s.ldb + j];
        acc += av * bv;
      }
      double& out = c[i * s.ldc + j];
      out = alpha * acc + (beta == 0.0 ? 0.0 : beta * out);
    }
  }
}

void gemm(const GemmShape& s, float alpha, const bf16* a, const bf16* b, float beta, float* c) {
  // Correct but slow: widen to f32. To be replaced by the oneDNN matmul primitive.
  const int64_t a_rows = s.trans_a ? s.k : s.m, b_rows = s.trans_b ? s.n : s.k;
  std::vector<float> wa(static_cast<size_t>(a_rows * s.lda)), wb(static_cast<size_t>(b_rows * s.ldb));
  for (size_t i = 0; i < wa.size(); ++i) wa[i] = static_cast<float>(a[i]);
  for (size_t i = 0; i < wb.size(); ++i) wb[i] = static_cast<float>(b[i]);
  gemm(s, alpha, wa.data(), wb.data(), beta, c);
}

}  // namespace kiln::cpu
