// M-RoPE position ids against SPEC-VLM §5.3's two worked examples (from
// Qwen2-VL's get_rope_index), text only, and the placeholder errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/data/mrope_positions.hpp"
#include "support/error_text.hpp"

namespace kiln::data {
namespace {

// Token ids: only <|image_pad|> is special to mrope_position_ids.
constexpr int64_t kPad = 151655, kVisionStart = 151652, kVisionEnd = 151653, kEos = 151643;
constexpr int64_t kQ = 'Q', kO = 'o', kK = 'k', kA = 'a';

using Ids = std::vector<int64_t>;

using kiln::testing::error_of;

TEST(MropePositions, SpecExampleOne) {
  // Q <vs> [6 pad] <ve> o k <eos>: one image of 4×6 patches, llm grid 2×3.
  const Ids tokens = {kQ, kVisionStart, kPad, kPad, kPad, kPad, kPad, kPad, kVisionEnd, kO, kK, kEos};
  const std::vector<LlmGrid> images = {{2, 3}};
  const MropePositions p = mrope_position_ids(tokens, kPad, images);
  EXPECT_EQ(p.t, (Ids{0, 1, 2, 2, 2, 2, 2, 2, 5, 6, 7, 8}));
  EXPECT_EQ(p.h, (Ids{0, 1, 2, 2, 2, 3, 3, 3, 5, 6, 7, 8}));
  EXPECT_EQ(p.w, (Ids{0, 1, 2, 3, 4, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(p.rope_delta, -3);
}

TEST(MropePositions, SpecExampleTwo) {
  // <vs>[6]<ve><vs>[2]<ve> a <eos>: 6×4 patches (llm 3×2), then 2×4 (llm 1×2).
  const Ids tokens = {kVisionStart, kPad, kPad, kPad, kPad, kPad, kPad, kVisionEnd,
                      kVisionStart, kPad, kPad, kVisionEnd, kA, kEos};
  const std::vector<LlmGrid> images = {{3, 2}, {1, 2}};
  const MropePositions p = mrope_position_ids(tokens, kPad, images);
  EXPECT_EQ(p.t, (Ids{0, 1, 1, 1, 1, 1, 1, 4, 5, 6, 6, 8, 9, 10}));
  EXPECT_EQ(p.h, (Ids{0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 6, 8, 9, 10}));
  EXPECT_EQ(p.w, (Ids{0, 1, 2, 1, 2, 1, 2, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(p.rope_delta, 11 - 14);
}

TEST(MropePositions, TextOnlyIsOneDimensional) {
  const Ids tokens = {kQ, kO, kK, kEos};
  const MropePositions p = mrope_position_ids(tokens, kPad, {});
  EXPECT_EQ(p.t, (Ids{0, 1, 2, 3}));
  EXPECT_EQ(p.h, p.t);
  EXPECT_EQ(p.w, p.t);
  EXPECT_EQ(p.rope_delta, 0);
}

TEST(MropePositions, ImageFirstAndLast) {
  // No text before or after: the 1×1 image is at 0 and nothing follows.
  const Ids tokens = {kPad};
  const std::vector<LlmGrid> images = {{1, 1}};
  const MropePositions p = mrope_position_ids(tokens, kPad, images);
  EXPECT_EQ(p.t, (Ids{0}));
  EXPECT_EQ(p.rope_delta, 0);
}

TEST(MropePositions, Errors) {
  const Ids tokens = {kVisionStart, kPad, kPad, kPad, kVisionEnd, kA};
  const std::vector<LlmGrid> two_by_two = {{2, 2}};
  EXPECT_EQ(error_of([&] { mrope_position_ids(tokens, kPad, two_by_two, "sample 5"); }),
            "sample 5: 3 <|image_pad|> tokens but its 1 images give 4 features");
  // The right count, but split differently from the images' grids.
  const std::vector<LlmGrid> one_and_two = {{1, 1}, {1, 2}};
  EXPECT_EQ(error_of([&] { mrope_position_ids(tokens, kPad, one_and_two, "sample 5"); }),
            "sample 5: image 0 has a run of 3 <|image_pad|> tokens but its 1×1 llm grid gives 1");
  const Ids broken = {kVisionStart, kPad, kA, kPad, kVisionEnd};
  const std::vector<LlmGrid> one_by_two = {{1, 2}};
  EXPECT_EQ(error_of([&] { mrope_position_ids(broken, kPad, one_by_two, "sample 5"); }),
            "sample 5: image 0 has a run of 1 <|image_pad|> tokens but its 1×2 llm grid gives 2");
  const std::vector<LlmGrid> empty = {{0, 3}};
  EXPECT_EQ(error_of([&] { mrope_position_ids(tokens, kPad, empty, "sample 5"); }),
            "sample 5: image 0 has an empty 0×3 llm grid");
}

}  // namespace
}  // namespace kiln::data
