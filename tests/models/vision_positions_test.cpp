// The vision encoder's absolute positions against PyTorch 1.13 (tests/
// reference/vision_positions.py, f64): NaViT's factorised row + column
// tables, the fractional variant (each table resized linearly to the image's
// grid), one learned grid resized bicubically per image, and a ViT table
// resized with its class row kept (7×7 → 5×5, 10×10, 4×12); outputs and
// every gradient. The table-index error of SPEC-VLM §11.
#include <gtest/gtest.h>

#include <string>

#include "kiln/autograd/engine.hpp"
#include "kiln/models/vision/image_segments.hpp"
#include "kiln/models/vision/vision_positions.hpp"
#include "kiln/models/vit/resize_positions.hpp"
#include "support/reference.hpp"

namespace kiln::models {
namespace {

using autograd::TensorList;

const io::TensorMap& reference() {
  static const io::TensorMap ref = testing::load_reference("vision_positions");
  return ref;
}

ImageSegments packed_images() {
  const Tensor& positions = testing::at(reference(), "positions");
  return image_segments(testing::at(reference(), "cu_v"), positions, positions.size(1));
}

constexpr testing::ParityTolerance kF64{.rtol = 1e-12, .atol = 1e-13, .grad_rtol = 1e-12, .grad_atol = 1e-13};

TEST(VisionPositions, SegmentsReadGridsFromPositions) {
  const ImageSegments s = packed_images();
  EXPECT_EQ(s.offsets, (std::vector<int64_t>{0, 8, 32, 44}));
  EXPECT_EQ(s.grid_rows, (std::vector<int64_t>{2, 4, 6}));
  EXPECT_EQ(s.grid_cols, (std::vector<int64_t>{4, 6, 2}));
  EXPECT_EQ(s.image_of(7), 0);
  EXPECT_EQ(s.image_of(8), 1);
  EXPECT_EQ(s.image_of(43), 2);
}

TEST(VisionPositions, FactorizedMatchesPyTorch) {
  const ImageSegments s = packed_images();
  testing::expect_matches_reference(
      reference(), "factorized", 2, [&](const TensorList& x) { return factorized_positions(x[0], x[1], s); }, kF64);
}

TEST(VisionPositions, FractionalMatchesPyTorch) {
  const ImageSegments s = packed_images();
  testing::expect_matches_reference(
      reference(), "fractional", 2, [&](const TensorList& x) { return fractional_positions(x[0], x[1], s); }, kF64);
  testing::expect_gradients_match_finite_differences(
      reference(), "fractional", 2, [&](const TensorList& x) { return fractional_positions(x[0], x[1], s); });
}

TEST(VisionPositions, LearnedGridResizedPerImageMatchesPyTorch) {
  const ImageSegments s = packed_images();
  testing::expect_matches_reference(
      reference(), "learned", 1, [&](const TensorList& x) { return resized_grid_positions(x[0], s); }, kF64);
}

TEST(VisionPositions, VitTableResizeKeepsTheClassRowAndMatchesPyTorch) {
  for (auto [h, w] : {std::pair{5, 5}, {10, 10}, {4, 12}}) {
    const std::string name = "vit_table." + std::to_string(h) + "x" + std::to_string(w);
    testing::expect_matches_reference(
        reference(), name, 1, [h, w](const TensorList& x) { return resize_position_table(x[0], h, w); }, kF64);
  }
  const Tensor table = testing::at(reference(), "vit_table.5x5.in0");
  EXPECT_TRUE(testing::all_close(resize_position_table(table, 7, 7), table, 0, 0)) << "same size";
  const Tensor constant = Tensor::full({1, 50, 3}, -0.25, DType::f64);
  EXPECT_TRUE(testing::all_close(resize_position_table(constant, 4, 12), Tensor::full({1, 49, 3}, -0.25, DType::f64),
                                 0, 1e-15));
}

TEST(VisionPositions, FactorizedRefusesAnIndexBeyondTheTable) {
  const ImageSegments s = packed_images();
  const Tensor rows = Tensor::zeros({5, 4}, DType::f64), cols = Tensor::zeros({6, 4}, DType::f64);
  try {
    factorized_positions(rows, cols, s);
    FAIL() << "a 6-row image read a 5-row table";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "image 2: row 5 ≥ vision.max_rows 5 (use factorized_fractional or rope2d)");
  }
  EXPECT_THROW(factorized_positions(Tensor::zeros({6, 4}), Tensor::zeros({5, 4}), s), Error);  // image 1: column 5
  EXPECT_NO_THROW(fractional_positions(rows, cols, s));  // fractional tables resize to any grid
}

TEST(VisionPositions, SegmentsRefuseBrokenCuSeqlens) {
  const Tensor& positions = testing::at(reference(), "positions");
  EXPECT_THROW(image_segments(Tensor::from<int32_t>({0, 8, 8, 44}, {4}), positions, 44), Error);
  EXPECT_THROW(image_segments(Tensor::from<int32_t>({0, 8, 40}, {3}), positions, 44), Error);
  EXPECT_THROW(image_segments(Tensor::from<int32_t>({1, 44}, {2}), positions, 44), Error);
  EXPECT_THROW(image_segments(testing::at(reference(), "cu_v"), positions.narrow(0, 0, 1), 44), Error);
}

}  // namespace
}  // namespace kiln::models
