// smart_resize against SPEC-VLM §1.1's golden table (F = 28 with Qwen's
// defaults, F = 8 with 16² ≤ pixels ≤ 64²) and its errors; NaViT packing
// (§1.3): next_fit's example, ffd:K cases worked by hand, cu_seqlens, errors.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/data/vision_tokens.hpp"
#include "support/error_text.hpp"

namespace kiln::data {

// Failures print "56×84", not the struct's bytes (gtest finds this by ADL, so
// it lives in ImageSize's namespace, not the anonymous one).
void PrintTo(const ImageSize& size, std::ostream* out) { *out << size.height << "×" << size.width; }

namespace {

using kiln::testing::error_of;

struct ResizeCase {
  ImageSize in, out;
};

TEST(SmartResize, QwenDefaultsGoldenTable) {
  const ResizeLimits qwen;  // P = 14, m = 2 (F = 28), 56² ≤ pixels ≤ 28²·1280
  const std::vector<ResizeCase> cases = {
      {{28, 28}, {56, 56}},       // min_pixels branch
      {{42, 70}, {56, 56}},       // 1.5 → 2 and 2.5 → 2 (half to even); std::round would give (56, 84)
      {{480, 640}, {476, 644}},   // plain rounding
      {{1080, 1920}, {728, 1316}},// max_pixels branch
      {{14, 2000}, {28, 1988}},   // one patch high: rounds up to F
  };
  for (const auto& c : cases)
    EXPECT_EQ(smart_resize(c.in, qwen), c.out) << c.in.height << "×" << c.in.width;
}

TEST(SmartResize, FactorEightGoldenTable) {
  const ResizeLimits small{.patch = 4, .merge = 2, .min_pixels = 16 * 16, .max_pixels = 64 * 64};
  const std::vector<ResizeCase> cases = {
      {{20, 20}, {16, 16}},   // 2.5 → 2
      {{44, 44}, {48, 48}},   // 5.5 → 6
      {{36, 52}, {32, 48}},   // 4.5 → 4, 6.5 → 6
      {{60, 84}, {48, 72}},   // max_pixels branch
      {{100, 30}, {96, 32}},  // 12.5 → 12, 3.75 → 4
  };
  for (const auto& c : cases)
    EXPECT_EQ(smart_resize(c.in, small), c.out) << c.in.height << "×" << c.in.width;
}

TEST(SmartResize, GrownPastMaxPixelsIsShrunkAgain) {
  // qwen-vl-utils' extra step. 8×400 with F = 8: rounding gives 8×400 = 3200
  // < min 4000, so β = √(4000/3200) and the sides ceil to 16×448 = 7168 >
  // max 4096; shrinking 16×448 by β = √(7168/4096) floors to 8×336 (2688).
  const ResizeLimits limits{.patch = 4, .merge = 2, .min_pixels = 4000, .max_pixels = 4096};
  EXPECT_EQ(smart_resize({8, 400}, limits), (ImageSize{8, 336}));
}

TEST(SmartResize, ResultIsAMultipleOfTheFactorWithinLimits) {
  const ResizeLimits qwen;
  for (int64_t h : {14, 57, 333, 1000, 4000})
    for (int64_t w : {20, 99, 640, 2500}) {
      const ImageSize out = smart_resize({h, w}, qwen);
      EXPECT_EQ(out.height % 28, 0);
      EXPECT_EQ(out.width % 28, 0);
      EXPECT_GE(out.height * out.width, qwen.min_pixels) << h << "×" << w;
      EXPECT_LE(out.height * out.width, qwen.max_pixels) << h << "×" << w;
    }
}

TEST(SmartResize, Errors) {
  const ResizeLimits qwen;
  EXPECT_EQ(error_of([&] { smart_resize({2, 40}, qwen, "image 3 of sample 17"); }),
            "image 3 of sample 17: 2×40 px is smaller than one 14-px patch");
  EXPECT_EQ(error_of([&] { smart_resize({0, 40}, qwen); }), "image: 0×40 px is smaller than one 14-px patch");
  EXPECT_EQ(error_of([&] { smart_resize({20, 5000}, qwen, "image 3 of sample 17"); }),
            "image 3 of sample 17: aspect 250.0 exceeds vision.max_ratio = 200");
  EXPECT_EQ(error_of([&] { smart_resize({100, 100}, {.min_pixels = 5000, .max_pixels = 4096}); }),
            "vision.min_pixels (5000) > vision.max_pixels (4096)");
  EXPECT_EQ(error_of([&] { smart_resize({100, 100}, {.min_pixels = 700}); }),
            "vision.min_pixels (700) < (patch_size·merge_size)² = 784");
  // Exactly max_ratio is allowed, as in transformers (it refuses only "> MAX_RATIO").
  EXPECT_EQ(error_of([&] { smart_resize({14, 2800}, qwen); }), "(no error)");
}

// The packs as lists of image indices.
std::vector<std::vector<int64_t>> images_of(const std::vector<ImagePack>& packs) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& p : packs) out.push_back(p.images);
  return out;
}

std::vector<std::vector<int32_t>> cu_seqlens_of(const std::vector<ImagePack>& packs) {
  std::vector<std::vector<int32_t>> out;
  for (const auto& p : packs) out.push_back(p.cu_seqlens);
  return out;
}

using Packs = std::vector<std::vector<int64_t>>;
using CuSeqlens = std::vector<std::vector<int32_t>>;

const std::vector<int64_t> kSpecLengths = {5, 4, 3, 2, 6};

TEST(PackImages, NextFitSpecExample) {
  const auto packs = pack_images(kSpecLengths, 8, parse_packing_policy("next_fit"));
  EXPECT_EQ(images_of(packs), (Packs{{0}, {1, 2}, {3, 4}}));
  EXPECT_EQ(cu_seqlens_of(packs), (CuSeqlens{{0, 5}, {0, 4, 7}, {0, 2, 8}}));
}

TEST(PackImages, FirstFitDecreasingOneWindow) {
  // Sorted (stable): 6(#4) 5(#0) 4(#1) 3(#2) 2(#3). 6 opens A; 5 opens B;
  // 4 fits neither (10, 9) and opens C; 3 fits B (8); 2 fits A (8).
  const auto packs = pack_images(kSpecLengths, 8, parse_packing_policy("ffd:5"));
  EXPECT_EQ(images_of(packs), (Packs{{4, 3}, {0, 2}, {1}}));
  EXPECT_EQ(cu_seqlens_of(packs), (CuSeqlens{{0, 6, 8}, {0, 5, 8}, {0, 4}}));
}

TEST(PackImages, FirstFitDecreasingWindowsDoNotShare) {
  // Windows {5,4} {3,2} {6}: 5 and 4 need two packs, 3+2 share one, 6 alone;
  // the 2 (#3) could have joined #1's pack but that pack's window is closed.
  const auto packs = pack_images(kSpecLengths, 8, parse_packing_policy("ffd:2"));
  EXPECT_EQ(images_of(packs), (Packs{{0}, {1}, {2, 3}, {4}}));
  EXPECT_EQ(cu_seqlens_of(packs), (CuSeqlens{{0, 5}, {0, 4}, {0, 3, 5}, {0, 6}}));
}

TEST(PackImages, StableForEqualLengths) {
  const std::vector<int64_t> lengths = {3, 3, 3, 3};
  EXPECT_EQ(images_of(pack_images(lengths, 6, parse_packing_policy("ffd:4"))), (Packs{{0, 1}, {2, 3}}));
}

TEST(PackImages, Errors) {
  const std::vector<int64_t> too_long = {5, 9, 3};
  EXPECT_EQ(error_of([&] { pack_images(too_long, 8, parse_packing_policy("next_fit")); }),
            "image 1 needs 9 tokens > vision.max_tokens 8");
  EXPECT_EQ(error_of([&] { pack_images(too_long, 8, parse_packing_policy("ffd:3")); }),
            "image 1 needs 9 tokens > vision.max_tokens 8");
  const std::vector<int64_t> empty_image = {5, 0};
  EXPECT_EQ(error_of([&] { pack_images(empty_image, 8, {}); }),
            "image 1 has 0 tokens (every image keeps at least one)");
  EXPECT_EQ(error_of([] { parse_packing_policy("ffd:0"); }),
            "vision.packing = \"ffd:0\": expected \"next_fit\" or \"ffd:K\" with a window K ≥ 1");
  EXPECT_NE(error_of([] { parse_packing_policy("first_fit"); }), "(no error)");
  EXPECT_NE(error_of([] { parse_packing_policy("ffd:4x"); }), "(no error)");
  EXPECT_TRUE(pack_images({}, 8, {}).empty());
}

}  // namespace
}  // namespace kiln::data
