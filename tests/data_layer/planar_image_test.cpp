// Planar images and their stb_image_resize resampling (SPEC-VLM §1.1): the
// data path needs no gradients, so these are properties — output size,
// constants staying constant, no value outside the input's range, area
// averaging when shrinking, bilinear values when enlarging — and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/data/planar_image.hpp"
#include "support/error_text.hpp"

namespace kiln::data {
namespace {

using kiln::testing::error_of;

// A two-channel image with a different pattern in each plane.
PlanarImage ramp_image(int64_t height, int64_t width) {
  PlanarImage image = PlanarImage::filled(2, height, width);
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x) {
      image.at(0, y, x) = static_cast<float>(x + y) / static_cast<float>(height + width);
      image.at(1, y, x) = static_cast<float>((x * 7 + y * 3) % 5) / 4.0f;
    }
  return image;
}

TEST(PlanarImage, ResizeGivesTheTargetSize) {
  const PlanarImage image = ramp_image(28, 28);
  for (const ImageSize size : {ImageSize{16, 16}, ImageSize{56, 56}, ImageSize{13, 40}, ImageSize{1, 1}}) {
    const PlanarImage out = resize_image(image, size);
    EXPECT_EQ(out.channels, 2);
    EXPECT_EQ(out.size(), size);
    EXPECT_EQ(out.pixels.size(), static_cast<size_t>(2 * size.height * size.width));
  }
}

TEST(PlanarImage, ConstantImagesStayConstant) {
  // 28 → 20 (the height of the last size) is among the ratios whose weights stb_image_resize
  // v0.97 asserts about before normalising them (planar_image.cpp).
  const PlanarImage image = PlanarImage::filled(3, 28, 20, 0.625f);
  for (const ImageSize size :
       {ImageSize{16, 16}, ImageSize{57, 13}, ImageSize{64, 40}, ImageSize{7, 3}, ImageSize{20, 14}}) {
    const PlanarImage out = resize_image(image, size);
    for (float v : out.pixels) EXPECT_NEAR(v, 0.625f, 1e-6f);
  }
}

TEST(PlanarImage, NoValueLeavesTheInputRange) {
  // A hard edge: filters with negative lobes (stb's default Catmull-Rom and
  // Mitchell) overshoot it; the triangle filter cannot, beyond float rounding
  // of its normalised weights.
  PlanarImage edge = PlanarImage::filled(1, 12, 12, 0.0f);
  for (int64_t y = 0; y < 12; ++y)
    for (int64_t x = 6; x < 12; ++x) edge.at(0, y, x) = 1.0f;
  for (const ImageSize size : {ImageSize{5, 5}, ImageSize{12, 31}, ImageSize{40, 40}}) {
    const PlanarImage out = resize_image(edge, size);
    const auto [low, high] = std::minmax_element(out.pixels.begin(), out.pixels.end());
    EXPECT_GE(*low, -1e-6f) << size.height << "×" << size.width;
    EXPECT_LE(*high, 1.0f + 1e-6f) << size.height << "×" << size.width;
  }
}

TEST(PlanarImage, HalvingAveragesPixelPairs) {
  // 2:1 in x with the triangle filter widened to 2 px: each output pixel is
  // the mean of the two input pixels it covers (interior columns).
  PlanarImage stripes = PlanarImage::filled(1, 4, 16, 0.0f);
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 16; x += 2) stripes.at(0, y, x) = 1.0f;
  const PlanarImage out = resize_image(stripes, {4, 8});
  for (int64_t x = 1; x < 7; ++x) EXPECT_NEAR(out.at(0, 2, x), 0.5f, 1e-6f) << "column " << x;
}

TEST(PlanarImage, DoublingInterpolatesBilinearly) {
  // 1-D ramp 0, 1, 2, 3 enlarged to 8: output pixel o samples input position
  // (o + 0.5)/2 − 0.5, so interior values are 0.25, 0.75, 1.25, …
  PlanarImage ramp = PlanarImage::filled(1, 1, 4);
  for (int64_t x = 0; x < 4; ++x) ramp.at(0, 0, x) = static_cast<float>(x);
  const PlanarImage out = resize_image(ramp, {1, 8});
  for (int64_t o = 1; o < 7; ++o) EXPECT_NEAR(out.at(0, 0, o), 0.5f * static_cast<float>(o) - 0.25f, 1e-5f) << o;
  EXPECT_NEAR(out.at(0, 0, 0), 0.0f, 1e-6f);  // clamped edge: the border pixel repeats
  EXPECT_NEAR(out.at(0, 0, 7), 3.0f, 1e-6f);
}

TEST(PlanarImage, ChannelsAreResampledSeparately) {
  const PlanarImage image = ramp_image(20, 12);
  const PlanarImage both = resize_image(image, {9, 30});
  for (int64_t c = 0; c < 2; ++c) {
    PlanarImage plane = PlanarImage::filled(1, 20, 12);
    std::copy_n(image.pixels.begin() + c * 240, 240, plane.pixels.begin());
    const PlanarImage alone = resize_image(plane, {9, 30});
    EXPECT_TRUE(std::equal(alone.pixels.begin(), alone.pixels.end(), both.pixels.begin() + c * 270)) << c;
  }
}

TEST(PlanarImage, SameSizeIsACopy) {
  const PlanarImage image = ramp_image(8, 24);
  EXPECT_EQ(resize_image(image, {8, 24}), image);
}

TEST(PlanarImage, BytesNormalisationAndPreview) {
  const std::vector<uint8_t> bytes = {0, 51, 255, 102};
  PlanarImage image = image_from_bytes(bytes.data(), 1, 2, 2);
  EXPECT_FLOAT_EQ(image.at(0, 0, 1), 0.2f);
  EXPECT_FLOAT_EQ(image.at(0, 1, 0), 1.0f);
  EXPECT_EQ(preview_rgb(image), (std::vector<uint8_t>{0, 0, 0, 51, 51, 51, 255, 255, 255, 102, 102, 102}));
  normalize_pixels(image, 0.2, 0.5);
  EXPECT_FLOAT_EQ(image.at(0, 0, 0), -0.4f);
  EXPECT_FLOAT_EQ(image.at(0, 1, 0), 1.6f);
  EXPECT_EQ(preview_rgb(image)[0], 0);  // clamped to [0, 1]
  EXPECT_EQ(preview_rgb(image)[6], 255);
}

TEST(PlanarImage, Errors) {
  const PlanarImage image = PlanarImage::filled(1, 4, 4);
  EXPECT_EQ(error_of([&] { resize_image(image, {0, 4}); }), "resize_image: target 0×4 px; both sides must be ≥ 1");
  EXPECT_EQ(error_of([] { PlanarImage::filled(1, 0, 3); }),
            "image: 1 channel(s) of 0×3 px; every side must be ≥ 1");
  EXPECT_EQ(error_of([] { preview_rgb(PlanarImage::filled(2, 1, 1)); }),
            "preview_rgb: 2 channels; expected 1 (grey) or 3 (RGB)");
}

}  // namespace
}  // namespace kiln::data
