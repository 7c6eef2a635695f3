// The fixed-resolution baselines of the VLM tasks (`data.image_mode`,
// SPEC-VLM §7.2): `pad` must hold every native canvas without shrinking it,
// `resize` gives every image one size, and the token counts a pack is
// planned with are the ones the rendered sample has.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>

#include "kiln/data/fashion_canvas.hpp"
#include "kiln/train/vlm_tasks.hpp"

namespace {

using namespace kiln;
using train::ImageMode;
using train::VlmTask;
using train::VlmTaskOptions;

bool fashion_mnist_installed() {
  return std::filesystem::exists(std::filesystem::path(data::kFashionMnistDir) / "train-labels-idx1-ubyte.gz");
}

VlmTaskOptions fashion(ImageMode mode) {
  VlmTaskOptions o;
  o.image_mode = mode;
  return o;
}

// Fashion canvases have area ≤ 64² but aspect ratios up to 2, so sides
// beyond 64 px occur: the pad canvas (88×88) holds the widest and tallest.
TEST(VlmTasks, ThePadCanvasHoldsEveryFashionCanvas) {
  if (!fashion_mnist_installed()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const data::FashionCanvases canvases(data::DataSplit::train);
  int64_t tallest = 0, widest = 0, first_over_64 = -1;
  for (int64_t i = 0; i < 40000; i += 4) {  // the first canvas of each sample
    const data::ImageSize size = canvases.layout(0, i).resized;
    tallest = std::max(tallest, size.height);
    widest = std::max(widest, size.width);
    if (first_over_64 < 0 && std::max(size.height, size.width) > 64) first_over_64 = i;
  }
  EXPECT_GT(std::max(tallest, widest), 64);
  EXPECT_LE(tallest, 88);
  EXPECT_LE(widest, 88);
  ASSERT_GE(first_over_64, 0);

  const VlmTask pad(fashion(ImageMode::pad), data::DataSplit::train);
  const data::VlmSample sample = pad.sample(0, first_over_64 / 4);
  ASSERT_FALSE(sample.images.empty());
  for (const data::SampleImage& image : sample.images) {
    EXPECT_EQ(image.grid_height, 22);
    EXPECT_EQ(image.grid_width, 22);
  }
  const data::SampleTokens tokens = pad.tokens(0, first_over_64 / 4);
  ASSERT_EQ(tokens.image_tokens.size(), sample.images.size());
  for (int64_t n : tokens.image_tokens) EXPECT_EQ(n, 22 * 22);
}

TEST(VlmTasks, PlannedTokensAreTheRenderedOnesInEveryMode) {
  if (!fashion_mnist_installed()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  for (const ImageMode mode : {ImageMode::native, ImageMode::resize, ImageMode::pad}) {
    const VlmTask task(fashion(mode), data::DataSplit::test);
    for (int64_t index = 0; index < 40; ++index) {
      const data::VlmSample sample = task.sample(3, index);
      const data::SampleTokens tokens = task.tokens(3, index);
      ASSERT_EQ(tokens.image_tokens.size(), sample.images.size());
      for (size_t i = 0; i < sample.images.size(); ++i) {
        EXPECT_EQ(tokens.image_tokens[i], sample.images[i].patch_count());
        if (mode == ImageMode::resize) {
          EXPECT_EQ(sample.images[i].patch_count(), 8 * 8);
        }
      }
    }
  }
}

// The OCR scores' distances (SPEC-VLM §10: CER over bytes, WER over words).
TEST(VlmScores, EditDistancesOverCharactersAndWords) {
  EXPECT_EQ(train::edit_distance("kitten", "sitting"), 3);
  EXPECT_EQ(train::edit_distance("", "abc"), 3);
  EXPECT_EQ(train::edit_distance("same", "same"), 0);
  const auto words = train::split_words("  In the  beginning ");
  ASSERT_EQ(words.size(), 3u);
  EXPECT_EQ(words[2], "beginning");
  // Delete "the", insert "good": two word edits, however many characters.
  EXPECT_EQ(train::word_edit_distance("In beginning good God", "In the beginning God"), 2);
  EXPECT_EQ(train::word_edit_distance("Inthe beginning", "In the beginning"), 2);
  EXPECT_EQ(train::word_edit_distance("", "In the"), 2);
}

}  // namespace
