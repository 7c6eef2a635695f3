#include "kiln/kernels/cpu/fp8_quant.hpp"

#include <algorithm>
#include <cmath>

#include "kiln/base/error.hpp"
#include "kiln/tensor/fp8.hpp"

namespace kiln::cpu {

namespace {

int64_t groups(int64_t n) { return (n + kFp8Group - 1) / kFp8Group; }

// Group grid: how many groups along rows and along columns.
std::pair<int64_t, int64_t> grid(int64_t rows, int64_t cols, Fp8Grouping g) {
  switch (g) {
    case Fp8Grouping::rows: return {rows, groups(cols)};
    case Fp8Grouping::cols: return {groups(rows), cols};
    case Fp8Grouping::blocks: return {groups(rows), groups(cols)};
  }
  return {0, 0};
}

std::pair<int64_t, int64_t> group_of(int64_t r, int64_t c, Fp8Grouping g) {
  switch (g) {
    case Fp8Grouping::rows: return {r, c / kFp8Group};
    case Fp8Grouping::cols: return {r / kFp8Group, c};
    case Fp8Grouping::blocks: return {r / kFp8Group, c / kFp8Group};
  }
  return {0, 0};
}

}  // namespace

Fp8Quantized fp8_quantize(const float* x, int64_t rows, int64_t cols, Fp8Grouping grouping, bool ue8m0) {
  Fp8Quantized q;
  q.rows = rows;
  q.cols = cols;
  q.grouping = grouping;
  // Plain variables, not a structured binding: clang 14 cannot capture those into an OpenMP region.
  const auto group_grid = grid(rows, cols, grouping);
  const int64_t gr = group_grid.first, gc = group_grid.second;
  std::vector<float> amax(static_cast<size_t>(gr * gc), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const auto [i, j] = group_of(r, c, grouping);
      float& m = amax[i * gc + j];
      m = std::max(m, std::fabs(x[r * cols + c]));
    }
  q.scales.resize(amax.size());
  for (size_t g = 0; g < amax.size(); ++g) {
    float s = std::max(amax[g], 1e-4f) / 448.0f;  // the official kernel's clamp
    if (ue8m0) s = std::exp2(std::ceil(std::log2(s)));
    q.scales[g] = s;
  }
  q.codes.resize(static_cast<size_t>(rows * cols));
#pragma omp parallel for if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const auto [i, j] = group_of(r, c, grouping);
      q.codes[r * cols + c] = fp8_encode_e4m3(x[r * cols + c] / q.scales[i * gc + j]);
    }
  return q;
}

void fp8_dequantize(const Fp8Quantized& q, float* out) {
  float table[256];
  for (int c = 0; c < 256; ++c) table[c] = fp8_decode(static_cast<uint8_t>(c), Fp8Format::e4m3);
  const int64_t gc = grid(q.rows, q.cols, q.grouping).second;
#pragma omp parallel for if (q.rows * q.cols > 65536)
  for (int64_t r = 0; r < q.rows; ++r)
    for (int64_t c = 0; c < q.cols; ++c) {
      const auto [i, j] = group_of(r, c, q.grouping);
      out[r * q.cols + c] = table[q.codes[r * q.cols + c]] * q.scales[i * gc + j];
    }
}

void fp8_block_gemm(const Fp8Quantized& a, const Fp8Quantized& w, float* y) {
  KILN_CHECK(a.grouping == Fp8Grouping::rows && w.grouping == Fp8Grouping::blocks && a.cols == w.cols,
             "fp8_block_gemm: expects A [M, K] in 1×128 tiles and W [N, K] in 128×128 blocks");
  float table[256];
  for (int c = 0; c < 256; ++c) table[c] = fp8_decode(static_cast<uint8_t>(c), Fp8Format::e4m3);
  const int64_t m = a.rows, n = w.rows, k = a.cols, kb_count = groups(k), w_gc = groups(w.cols);
#pragma omp parallel for collapse(2) if (m * n > 4096)
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0;
      for (int64_t kb = 0; kb < kb_count; ++kb) {
        float partial = 0;  // the 128-product group, summed in f32, then promoted
        for (int64_t p = kb * kFp8Group; p < std::min(k, (kb + 1) * kFp8Group); ++p)
          partial += table[a.codes[i * k + p]] * table[w.codes[j * k + p]];
        acc += partial * a.scales[i * kb_count + kb] * w.scales[(j / kFp8Group) * w_gc + kb];
      }
      y[i * n + j] = acc;
    }
}

}  // namespace kiln::cpu
