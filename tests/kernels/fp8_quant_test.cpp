// Fine-grained FP8 quantisation and the block-scaled GEMM (DeepSeek-V3,
// arXiv 2412.19437, §3.3; a hand-computed worked tile, range and error-bound
// checks). (The fp8 precision scope of linear layers: tests/autograd/precision_test.cpp.)
#include "kiln/kernels/cpu/fp8_quant.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kiln/base/philox.hpp"
#include "kiln/kernels/cpu/gemm.hpp"
#include "kiln/tensor/fp8.hpp"

namespace kiln::cpu {
namespace {

std::vector<float> gaussian(size_t n, uint64_t stream) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = philox_normal({11, stream}, i);
  return v;
}

double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    err += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    norm += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(err / norm);
}

TEST(Fp8Quant, HandComputedTile) {
  std::vector<float> tile(128, 0.0f);
  tile[0] = 3.0f;
  tile[1] = 1.0f;
  tile[2] = -0.5f;
  tile[3] = 0.01f;
  tile[4] = 1e-4f;
  std::vector<float> back(128);
  const Fp8Quantized q = fp8_quantize(tile.data(), 1, 128, Fp8Grouping::rows);
  ASSERT_EQ(q.scales.size(), 1u);
  EXPECT_FLOAT_EQ(q.scales[0], 3.0f / 448.0f);
  fp8_dequantize(q, back.data());
  EXPECT_FLOAT_EQ(back[0], 3.0f);
  EXPECT_NEAR(back[1], 0.96428571, 1e-7);
  EXPECT_NEAR(back[2], -0.48214286, 1e-7);
  EXPECT_NEAR(back[3], 0.010044643, 1e-9);
  EXPECT_NEAR(back[4], 1.0463e-4, 1e-8);
  const Fp8Quantized p = fp8_quantize(tile.data(), 1, 128, Fp8Grouping::rows, /*ue8m0=*/true);
  EXPECT_EQ(p.scales[0], 0.0078125f);
  fp8_dequantize(p, back.data());
  EXPECT_EQ(back[0], 3.0f);
  EXPECT_EQ(back[1], 1.0f);
  EXPECT_EQ(back[2], -0.5f);
  EXPECT_EQ(back[3], 0.009765625f);
}

TEST(Fp8Quant, GroupShapesRangesAndErrorBound) {
  const int64_t rows = 200, cols = 300;  // neither a multiple of 128: edge groups are shorter
  std::vector<float> x = gaussian(rows * cols, 1);
  x[5] = 0;
  for (int64_t c = 0; c < cols; ++c) x[7 * cols + c] = 0;  // an all-zero row
  for (auto [grouping, expected] : {std::pair{Fp8Grouping::rows, rows * 3}, std::pair{Fp8Grouping::cols, 2 * cols},
                                    std::pair{Fp8Grouping::blocks, int64_t{2 * 3}}}) {
    const Fp8Quantized q = fp8_quantize(x.data(), rows, cols, grouping);
    EXPECT_EQ(static_cast<int64_t>(q.scales.size()), expected);
    std::vector<float> back(x.size());
    fp8_dequantize(q, back.data());
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_LE(std::fabs(fp8_decode(q.codes[i], Fp8Format::e4m3)), 448.0f);
      if (std::fabs(x[i]) >= 0.25f) {  // well inside the normal range of every group
        EXPECT_LE(std::fabs(back[i] - x[i]), std::fabs(x[i]) / 16) << i;
      }
    }
    EXPECT_LT(relative_error(back, x), 0.04);
  }
  const Fp8Quantized q = fp8_quantize(x.data(), rows, cols, Fp8Grouping::rows);
  EXPECT_FLOAT_EQ(q.scales[7 * 3], 1e-4f / 448.0f) << "a zero tile keeps the clamped scale";
  for (int64_t c = 0; c < cols; ++c) EXPECT_EQ(q.codes[7 * cols + c], 0);
  int at_max = 0;
  for (uint8_t code : q.codes) at_max += (code & 0x7F) == 0x7E;
  EXPECT_GE(at_max, rows * 3 - 1) << "each tile's amax element maps to ±448";
}

TEST(Fp8Quant, BlockGemmEqualsDequantisedGemmAndStaysNearF32) {
  const int64_t m = 64, k = 512, n = 256;
  const std::vector<float> a = gaussian(m * k, 2), w = gaussian(n * k, 3);
  const Fp8Quantized qa = fp8_quantize(a.data(), m, k, Fp8Grouping::rows);
  const Fp8Quantized qw = fp8_quantize(w.data(), n, k, Fp8Grouping::blocks);
  std::vector<float> block(m * n), fake(m * n), exact(m * n), da(m * k), dw(n * k);
  fp8_block_gemm(qa, qw, block.data());
  fp8_dequantize(qa, da.data());
  fp8_dequantize(qw, dw.data());
  gemm(GemmShape{false, true, m, n, k, k, k, n}, 1.0f, da.data(), dw.data(), 0.0f, fake.data());
  gemm(GemmShape{false, true, m, n, k, k, k, n}, 1.0f, a.data(), w.data(), 0.0f, exact.data());
  EXPECT_LT(relative_error(block, fake), 1e-5) << "the two emulations differ only in summation order";
  const double err = relative_error(block, exact);
  std::printf("FP8 block GEMM (64×512 · 512×256, Gaussian) vs f32: relative Frobenius error %.2f%%\n", 100 * err);
  EXPECT_LT(err, 0.06);
  EXPECT_GT(err, 0.01) << "quantisation really happened";
}


}  // namespace
}  // namespace kiln::cpu
