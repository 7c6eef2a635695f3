#include "kiln/kernels/cpu/gemm.hpp"

#include <dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>

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

namespace {

// oneDNN objects for bf16 products. The engine and stream are per thread;
// oneDNN keeps its own cache of compiled primitives keyed by the descriptor,
// so re-describing the same shape every step costs a lookup, not a JIT.
struct DnnlContext {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

DnnlContext& dnnl_context() {
  thread_local DnnlContext context;
  return context;
}

dnnl::memory::desc matrix_desc(int64_t rows, int64_t cols, int64_t ld, bool transposed, dnnl::memory::data_type type) {
  // Logical [rows, cols]; stored row-major with leading dimension ld, or
  // transposed (column-major) when `transposed`.
  const dnnl::memory::dims strides = transposed ? dnnl::memory::dims{1, ld} : dnnl::memory::dims{ld, 1};
  return dnnl::memory::desc({rows, cols}, type, strides);
}

}  // namespace

void gemm(const GemmShape& s, float alpha, const bf16* a, const bf16* b, float beta, float* c) {
  if (s.m == 0 || s.n == 0) return;
  using dt = dnnl::memory::data_type;
  DnnlContext& ctx = dnnl_context();
  const auto a_desc = matrix_desc(s.m, s.k, s.lda, s.trans_a, dt::bf16);
  const auto b_desc = matrix_desc(s.k, s.n, s.ldb, s.trans_b, dt::bf16);
  const auto c_desc = matrix_desc(s.m, s.n, s.ldc, false, dt::f32);
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_desc, b_desc, c_desc), attr, ctx.engine);
  dnnl::memory a_mem(a_desc, ctx.engine, const_cast<bf16*>(a));
  dnnl::memory b_mem(b_desc, ctx.engine, const_cast<bf16*>(b));
  dnnl::memory c_mem(c_desc, ctx.engine, c);
  dnnl::matmul(pd).execute(ctx.stream, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
  ctx.stream.wait();
}

}  // namespace kiln::cpu
