#include "kiln/kernels/cpu/gemm.hpp"

#include <dnnl.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <bit>
#include <unordered_map>

#include "kiln/base/error.hpp"
#include "kiln/kernels/cpu/gemv.hpp"

namespace kiln::cpu {

void gemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c) {
  if (s.m == 0 || s.n == 0) return;
  if (s.m <= kGemvMaxRows && !s.trans_a && s.trans_b)
    return gemv({s.m, s.n, s.k, s.lda, s.ldb, s.ldc}, alpha, a, b, beta, c);
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

void gemm_batched(const GemmShape& s, const GemmBatch& batch, double alpha, const double* a, const double* b,
                  double beta, double* c) {
  for (int64_t i = 0; i < batch.count; ++i)
    gemm(s, alpha, a + i * batch.stride_a, b + i * batch.stride_b, beta, c + i * batch.stride_c);
}

namespace {

using dt = dnnl::memory::data_type;

// Everything a matmul primitive is specialised on. oneDNN fixes the thread
// partitioning of a primitive when it is created (from omp_get_max_threads(),
// or 1 inside a parallel region), so the thread count is part of the key:
// after set_num_threads() a shape gets a primitive made for the new count.
struct MatmulKey {
  dt type;
  bool trans_a, trans_b;
  int64_t count, m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c;
  float alpha, beta;
  int threads;
  bool operator==(const MatmulKey&) const = default;
};

struct MatmulKeyHash {
  size_t operator()(const MatmulKey& key) const {
    size_t h = static_cast<size_t>(key.type) * 2 + key.trans_a;
    auto mix = [&h](uint64_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
    for (int64_t v : {key.count, key.m, key.n, key.k, key.lda, key.ldb, key.ldc, key.stride_a, key.stride_b,
                      key.stride_c})
      mix(static_cast<uint64_t>(v));
    mix(key.trans_b);
    mix(std::bit_cast<uint32_t>(key.alpha));
    mix(std::bit_cast<uint32_t>(key.beta));
    mix(static_cast<uint64_t>(key.threads));
    return h;
  }
};

struct CachedMatmul {
  dnnl::memory::desc a, b, c;
  dnnl::matmul primitive;
};

// Operand [count, rows, cols] stored with row stride ld (or column stride ld
// when transposed) and batch stride; a shared operand (batch stride 0) is a
// single matrix that oneDNN broadcasts over the batch.
dnnl::memory::desc operand_desc(int64_t count, int64_t batch_stride, int64_t rows, int64_t cols, int64_t ld,
                                bool transposed, dt type) {
  const int64_t n = batch_stride == 0 ? 1 : count;
  const int64_t bs = batch_stride == 0 ? rows * cols : batch_stride;
  return dnnl::memory::desc({n, rows, cols}, type,
                            transposed ? dnnl::memory::dims{bs, 1, ld} : dnnl::memory::dims{bs, ld, 1});
}

// Primitives made by this thread, by shape. thread_local rather than one
// shared map: no lock on the hot path and no mutable global state visible
// across threads; in practice one thread (the one running the autograd tape)
// issues the GEMMs, and OpenMP workers only run inside oneDNN. The engine and
// stream are per thread for the same reason. Training uses a fixed set of
// shapes, so the cache stays small; it is emptied if it ever grows past
// kCapacity (oneDNN's own primitive cache still keeps the JIT-ed kernels).
class MatmulCache {
 public:
  static constexpr size_t kCapacity = 256;

  const CachedMatmul& get(const MatmulKey& key) {
    if (auto it = map_.find(key); it != map_.end()) return it->second;
    if (map_.size() >= kCapacity) map_.clear();
    CachedMatmul entry{
        operand_desc(key.count, key.stride_a, key.m, key.k, key.lda, key.trans_a, key.type),
        operand_desc(key.count, key.stride_b, key.k, key.n, key.ldb, key.trans_b, key.type),
        operand_desc(key.count, key.stride_c, key.m, key.n, key.ldc, false, dt::f32),
        {}};
    dnnl::primitive_attr attr;
    if (key.alpha != 1.0f) attr.set_output_scales(0, {key.alpha});
    if (key.beta != 0.0f) {
      dnnl::post_ops ops;
      ops.append_sum(key.beta);
      attr.set_post_ops(ops);
    }
    try {
      entry.primitive =
          dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(entry.a, entry.b, entry.c), attr, engine));
    } catch (const dnnl::error& e) {
      fail("gemm: oneDNN has no {} matmul for this CPU ({}){}", key.type == dt::bf16 ? "bf16" : "f32", e.what(),
           key.type == dt::bf16 ? "; leave KILN_BF16_GEMM unset to multiply bf16 operands in f32" : "");
    }
    return map_.emplace(key, std::move(entry)).first->second;
  }

  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};

 private:
  std::unordered_map<MatmulKey, CachedMatmul, MatmulKeyHash> map_;
};

MatmulCache& matmul_cache() {
  thread_local MatmulCache cache;
  return cache;
}

template <typename T>
void run_matmul(dt type, const GemmShape& s, const GemmBatch& batch, float alpha, const T* a, const T* b, float beta,
                float* c) {
  if (s.m == 0 || s.n == 0 || batch.count == 0) return;
  KILN_CHECK(batch.count == 1 || batch.stride_c != 0, "gemm_batched: {} products into one output (stride_c 0)",
             batch.count);
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const GemmBatch b1 = batch.count == 1 ? GemmBatch{1, 0, 0, 0} : batch;
  const MatmulKey key{type,        s.trans_a,   s.trans_b,   b1.count,    s.m,   s.n,  s.k,    s.lda,
                      s.ldb,       s.ldc,       b1.stride_a, b1.stride_b, b1.stride_c, alpha, beta, threads};
  MatmulCache& cache = matmul_cache();
  const CachedMatmul& mm = cache.get(key);
  dnnl::memory a_mem(mm.a, cache.engine, const_cast<T*>(a));
  dnnl::memory b_mem(mm.b, cache.engine, const_cast<T*>(b));
  dnnl::memory c_mem(mm.c, cache.engine, c);
  mm.primitive.execute(cache.stream, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
  cache.stream.wait();
}

}  // namespace

bool has_bf16_gemm() {
  static const bool available = [] {
    const dnnl::memory::desc square({1, 16, 16}, dt::bf16, dnnl::memory::dims{256, 16, 1});
    const dnnl::memory::desc out({1, 16, 16}, dt::f32, dnnl::memory::dims{256, 16, 1});
    try {
      dnnl::matmul::primitive_desc(dnnl::matmul::desc(square, square, out), matmul_cache().engine);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return available;
}

void convert_to_bf16(const float* src, bf16* dst, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= (int64_t{1} << 16))
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = std::bit_cast<uint32_t>(src[i]);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (u >> 16) | 0x40u;
    dst[i].bits = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
  }
}

void gemm(const GemmShape& s, float alpha, const bf16* a, const bf16* b, float beta, float* c) {
  run_matmul(dt::bf16, s, GemmBatch{}, alpha, a, b, beta, c);
}

void gemm_batched(const GemmShape& s, const GemmBatch& batch, float alpha, const float* a, const float* b, float beta,
                  float* c) {
  if (batch.count == 1) return gemm(s, alpha, a, b, beta, c);
  run_matmul(dt::f32, s, batch, alpha, a, b, beta, c);
}

void gemm_batched(const GemmShape& s, const GemmBatch& batch, float alpha, const bf16* a, const bf16* b, float beta,
                  float* c) {
  run_matmul(dt::bf16, s, batch, alpha, a, b, beta, c);
}

}  // namespace kiln::cpu
