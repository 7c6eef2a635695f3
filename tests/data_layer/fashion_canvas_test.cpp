// Fashion-MNIST on variable canvases (SPEC-VLM §7.1): the draws stay in the
// stated ranges, the final size is smart_resize's (multiples of 8, 16² to
// 64² pixels), the garment is where the layout says, the same (seed, split,
// index) gives the same bytes, and the square sweep. Needs Debian's
// dataset-fashion-mnist (skipped without it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <tuple>

#include "kiln/base/error.hpp"
#include "kiln/data/fashion_canvas.hpp"
#include "support/error_text.hpp"

namespace kiln::data {
namespace {

namespace fs = std::filesystem;

using kiln::testing::error_of;

bool fashion_mnist_installed() {
  return fs::exists(fs::path(kFashionMnistDir) / "t10k-images-idx3-ubyte.gz") ||
         fs::exists(fs::path(kFashionMnistDir) / "t10k-images-idx3-ubyte");
}

class FashionCanvasTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (fashion_mnist_installed()) test_ = std::make_unique<FashionCanvases>(DataSplit::test);
  }
  static void TearDownTestSuite() { test_.reset(); }
  void SetUp() override {
    if (!test_) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  }
  static std::unique_ptr<FashionCanvases> test_;
};

std::unique_ptr<FashionCanvases> FashionCanvasTest::test_;

TEST_F(FashionCanvasTest, LayoutsStayInTheirRanges) {
  std::set<int64_t> sides;
  for (int64_t i = 0; i < 5000; ++i) {
    const FashionCanvasLayout l = test_->layout(11, i);
    const int64_t s = l.garment_side;
    sides.insert(s);
    EXPECT_EQ(l.garment, i % 10000);
    ASSERT_TRUE(s >= 16 && s <= 56) << i;
    // Hc = max(s, round(s√(k/a))), Wc = max(s, round(s√(ka))) with k ∈ [1, 2.25), a ∈ [½, 2):
    // each side is at most s·√4.5 (+ rounding), the area at most 2.25 s² (+ rounding).
    EXPECT_GE(l.canvas.height, s);
    EXPECT_GE(l.canvas.width, s);
    EXPECT_LE(l.canvas.height, std::lround(s * std::sqrt(4.5)) + 1) << i;
    EXPECT_LE(l.canvas.width, std::lround(s * std::sqrt(4.5)) + 1) << i;
    EXPECT_LE(static_cast<double>(l.canvas.height * l.canvas.width), 2.25 * (s + 1) * (s + 1)) << i;
    EXPECT_TRUE(l.offset_y >= 0 && l.offset_y + s <= l.canvas.height) << i;
    EXPECT_TRUE(l.offset_x >= 0 && l.offset_x + s <= l.canvas.width) << i;
    EXPECT_EQ(l.resized, smart_resize(l.canvas, kFashionCanvasLimits));
    EXPECT_EQ(l.resized.height % 8, 0);
    EXPECT_EQ(l.resized.width % 8, 0);
    const int64_t pixels = l.resized.height * l.resized.width;
    EXPECT_TRUE(pixels >= 16 * 16 && pixels <= 64 * 64) << i;
  }
  EXPECT_EQ(*sides.begin(), 16);
  EXPECT_EQ(*sides.rbegin(), 56);
  EXPECT_EQ(sides.size(), 41u);  // every side from 16 to 56 occurs
}

TEST_F(FashionCanvasTest, MeanPatchesNearTheSpecFigure) {
  // §7.1: at P = 4, 16–256 patches per image, mean ≈ 140.
  int64_t patches = 0, fewest = 1 << 20, most = 0;
  constexpr int64_t kImages = 5000;
  for (int64_t i = 0; i < kImages; ++i) {
    const ImageSize size = test_->layout(0, i).resized;
    const int64_t n = (size.height / 4) * (size.width / 4);
    patches += n;
    fewest = std::min(fewest, n);
    most = std::max(most, n);
  }
  const double mean = static_cast<double>(patches) / kImages;
  EXPECT_NEAR(mean, 140, 15);
  EXPECT_GE(fewest, 16);
  EXPECT_LE(most, 256);
  ::testing::Test::RecordProperty("mean_patches", std::to_string(mean));
}

TEST_F(FashionCanvasTest, CanvasHoldsTheGarmentWhereTheLayoutSays) {
  // Draw with the size unchanged by smart_resize, so the canvas is not resampled.
  for (int64_t i = 0, checked = 0; checked < 20; ++i) {
    const FashionCanvasLayout l = test_->layout(5, i);
    if (l.resized != l.canvas) continue;
    ++checked;
    const LabelledImage c = test_->canvas(5, i);
    const LabelledImage g = test_->square(l.garment, l.garment_side);
    EXPECT_EQ(c.label, g.label);
    for (int64_t y = 0; y < l.canvas.height; ++y)
      for (int64_t x = 0; x < l.canvas.width; ++x) {
        const bool inside =
            y >= l.offset_y && y < l.offset_y + l.garment_side && x >= l.offset_x && x < l.offset_x + l.garment_side;
        const float expected = inside ? g.image.at(0, y - l.offset_y, x - l.offset_x) : 0.0f;
        ASSERT_EQ(c.image.at(0, y, x), expected) << "canvas " << i << " at " << y << "," << x;
      }
  }
}

TEST_F(FashionCanvasTest, SameSeedSplitIndexGiveTheSameBytes) {
  const FashionCanvases again(DataSplit::test);
  for (int64_t i : {0, 7, 9999, 12345}) {
    const LabelledImage a = test_->canvas(3, i), b = again.canvas(3, i);
    EXPECT_EQ(a.image, b.image);
    EXPECT_EQ(a.label, b.label);
    EXPECT_EQ(a.image.size(), test_->layout(3, i).resized);
    EXPECT_TRUE(std::all_of(a.image.pixels.begin(), a.image.pixels.end(), [](float v) { return v >= 0 && v <= 1; }));
  }
  // Another seed draws another canvas; an index one epoch later, the same garment on another canvas.
  EXPECT_NE(test_->canvas(3, 7).image, test_->canvas(4, 7).image);
  const FashionCanvasLayout now = test_->layout(3, 7), later = test_->layout(3, 10007);
  EXPECT_EQ(now.garment, later.garment);
  EXPECT_NE(std::tie(now.garment_side, now.canvas.height, now.canvas.width, now.offset_y, now.offset_x),
            std::tie(later.garment_side, later.canvas.height, later.canvas.width, later.offset_y, later.offset_x));
}

TEST_F(FashionCanvasTest, LabelsFollowTheIdxFile) {
  // t10k's first labels (Fashion-MNIST's README): ankle boot, pullover, trouser, trouser.
  EXPECT_EQ(test_->label(0), 9);
  EXPECT_EQ(test_->label(1), 2);
  EXPECT_EQ(test_->label(2), 1);
  EXPECT_EQ(kFashionClassNames[static_cast<size_t>(test_->label(0))], "ankle boot");
  EXPECT_EQ(test_->canvas(0, 10001).label, 2);
}

TEST_F(FashionCanvasTest, SquareSweep) {
  for (int64_t side : kFashionSweepSides) {
    const LabelledImage s = test_->square(4, side);
    EXPECT_EQ(s.image.size(), (ImageSize{side, side}));
    EXPECT_EQ(s.label, test_->label(4));
  }
  EXPECT_EQ(test_->square(4, 28).image.pixels.size(), 784u);
}

TEST_F(FashionCanvasTest, Errors) {
  EXPECT_EQ(error_of([] { FashionCanvases(DataSplit::train, kFashionCanvasLimits, "/nonexistent"); }),
            "fashion-canvas: /nonexistent/train-images-idx3-ubyte(.gz) missing (apt-get install dataset-fashion-mnist)");
  EXPECT_EQ(error_of([&] { test_->layout(0, -1); }), "fashion-canvas: index -1 is negative");
  EXPECT_EQ(error_of([&] { test_->square(0, 0); }), "fashion-canvas: square side 0 px must be ≥ 1");
}

}  // namespace
}  // namespace kiln::data
