// ops::resize against PyTorch 1.13's F.interpolate (tests/reference/
// interpolate.py, f64): bicubic 7×7 → 5×5, 10×10, 4×12 and 7×7 as two
// separable passes, linear 1-D shrinks and growths, with every gradient;
// finite differences; the properties the spec asks of a position resize (the
// same size is the identity, a constant stays constant).
#include <gtest/gtest.h>

#include <string>

#include "kiln/autograd/ops/interpolate.hpp"
#include "support/reference.hpp"

namespace kiln {
namespace {

using autograd::TensorList;
using cpu::Interpolation;

const io::TensorMap& reference() {
  static const io::TensorMap ref = testing::load_reference("interpolate");
  return ref;
}

Tensor bicubic_2d(const Tensor& grid, int64_t h, int64_t w) {
  return ops::resize(ops::resize(grid, 0, h, Interpolation::cubic), 1, w, Interpolation::cubic);
}

constexpr testing::ParityTolerance kF64{.rtol = 1e-12, .atol = 1e-12, .grad_rtol = 1e-12, .grad_atol = 1e-12};

TEST(Resize, BicubicMatchesPyTorch) {
  for (auto [h, w] : {std::pair{5, 5}, {10, 10}, {4, 12}, {7, 7}}) {
    const std::string name = "bicubic.7_" + std::to_string(h) + "x" + std::to_string(w);
    testing::expect_matches_reference(
        reference(), name, 1, [h, w](const TensorList& x) { return bicubic_2d(x[0], h, w); }, kF64);
  }
}

TEST(Resize, LinearMatchesPyTorch) {
  for (auto [in, out] : {std::pair{16, 5}, {16, 7}, {5, 16}, {7, 10}, {6, 6}, {4, 1}, {1, 3}}) {
    const std::string name = "linear." + std::to_string(in) + "_" + std::to_string(out);
    testing::expect_matches_reference(
        reference(), name, 1, [out](const TensorList& x) { return ops::resize(x[0], 0, out, Interpolation::linear); },
        kF64);
  }
}

TEST(Resize, GradientsMatchFiniteDifferences) {
  testing::expect_gradients_match_finite_differences(
      reference(), "bicubic.7_4x12", 1, [](const TensorList& x) { return bicubic_2d(x[0], 4, 12); });
  testing::expect_gradients_match_finite_differences(
      reference(), "linear.7_10", 1, [](const TensorList& x) { return ops::resize(x[0], 0, 10, Interpolation::linear); });
}

TEST(Resize, SameSizeIsTheIdentity) {
  const Tensor x = testing::at(reference(), "bicubic.7_5x5.in0");
  for (Interpolation mode : {Interpolation::linear, Interpolation::cubic})
    for (int64_t dim : {0, 1, 2})
      EXPECT_TRUE(testing::all_close(ops::resize(x, dim, x.size(dim), mode), x, 0, 0)) << "axis " << dim;
}

TEST(Resize, ConstantStaysConstant) {
  const Tensor x = Tensor::full({7, 7, 2}, 0.37, DType::f64);
  for (auto [h, w] : {std::pair{5, 5}, {10, 10}, {4, 12}, {1, 30}})
    EXPECT_TRUE(testing::all_close(bicubic_2d(x, h, w), Tensor::full({h, w, 2}, 0.37, DType::f64), 0, 1e-15));
  EXPECT_TRUE(testing::all_close(ops::resize(x, 1, 13, Interpolation::linear),
                                 Tensor::full({7, 13, 2}, 0.37, DType::f64), 0, 1e-15));
}

TEST(Resize, RefusesMissingAxisAndEmptySizes) {
  const Tensor x = Tensor::zeros({3, 4});
  EXPECT_THROW(ops::resize(x, 2, 5, Interpolation::linear), Error);
  EXPECT_THROW(ops::resize(x, 0, 0, Interpolation::cubic), Error);
}

}  // namespace
}  // namespace kiln
