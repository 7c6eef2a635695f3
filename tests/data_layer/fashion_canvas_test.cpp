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

// SPEC-VLM §1.6: a per-image factor f, log-uniform on [lo, hi], scales the
// canvas before smart_resize; every other draw stays as it was.
TEST_F(FashionCanvasTest, ResolutionScaleSamplesSizesAndKeepsTheRest) {
  const FashionCanvases half(DataSplit::test, kFashionCanvasLimits, kFashionMnistDir, {0.5, 0.5});
  const FashionCanvases range(DataSplit::test, kFashionCanvasLimits, kFashionMnistDir, {0.5, 2.0});
  int64_t larger = 0, smaller = 0;
  double log_sum = 0;
  constexpr int64_t kImages = 4000;
  for (int64_t i = 0; i < kImages; ++i) {
    const FashionCanvasLayout plain = test_->layout(3, i), l = range.layout(3, i), h = half.layout(3, i);
    EXPECT_EQ(plain.scale, 1.0);
    EXPECT_EQ(plain.resized, smart_resize(plain.canvas, kFashionCanvasLimits)) << "no scale: as before";
    for (const FashionCanvasLayout& scaled : {l, h}) {
      EXPECT_EQ(scaled.garment, plain.garment);
      EXPECT_EQ(scaled.garment_side, plain.garment_side);
      EXPECT_EQ(scaled.canvas, plain.canvas);
      EXPECT_EQ(scaled.offset_y, plain.offset_y);
      EXPECT_EQ(scaled.offset_x, plain.offset_x);
    }
    EXPECT_NEAR(h.scale, 0.5, 1e-15);
    const auto scaled_side = [](int64_t side, double f) {
      return std::max<int64_t>(8, static_cast<int64_t>(std::nearbyint(static_cast<double>(side) * f)));
    };
    EXPECT_EQ(h.resized, smart_resize({scaled_side(plain.canvas.height, 0.5), scaled_side(plain.canvas.width, 0.5)},
                                      kFashionCanvasLimits));
    ASSERT_TRUE(l.scale >= 0.5 && l.scale < 2.0) << i;
    EXPECT_EQ(l.resized, smart_resize({scaled_side(plain.canvas.height, l.scale),
                                       scaled_side(plain.canvas.width, l.scale)},
                                      kFashionCanvasLimits));
    const int64_t pixels = l.resized.height * l.resized.width, before = plain.resized.height * plain.resized.width;
    larger += pixels > before;
    smaller += pixels < before;
    log_sum += std::log(l.scale);
  }
  // log f is uniform on [ln ½, ln 2]: mean 0, and about as many images grow as shrink
  // (fewer of each than half: smart_resize's bounds and its rounding to 8 px keep some sizes).
  EXPECT_NEAR(log_sum / kImages, 0.0, 0.02);
  EXPECT_GT(larger, kImages / 4);
  EXPECT_GT(smaller, kImages / 4);
  // The rendered canvas is the layout's size.
  const LabelledImage image = range.canvas(3, 7);
  EXPECT_EQ(image.image.height, range.layout(3, 7).resized.height);
  EXPECT_EQ(image.image.width, range.layout(3, 7).resized.width);
  EXPECT_EQ(error_of([] { check_resolution_scale({0, 1}); }),
            "data.resolution_scale = [0, 1] must satisfy 0 < lo ≤ hi ≤ 8");
  EXPECT_EQ(error_of([] { check_resolution_scale({2, 1}); }),
            "data.resolution_scale = [2, 1] must satisfy 0 < lo ≤ hi ≤ 8");
  EXPECT_NE(error_of([] { check_resolution_scale({1, 9}); }), "");
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
