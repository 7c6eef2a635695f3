// Merge-block-major patch order (SPEC-VLM §1.2): the spec's 4×6 index table,
// the (row, col) each sequence index carries, and that merge order holds the
// same patches as row-major order, only permuted.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "kiln/kernels/cpu/patchify.hpp"

namespace kiln::cpu {
namespace {

// SPEC-VLM §1.2: gh = 4, gw = 6, m = 2; each cell is the sequence index of the patch there.
const std::vector<std::vector<int64_t>> kSpecTable = {
    {0, 1, 4, 5, 8, 9},
    {2, 3, 6, 7, 10, 11},
    {12, 13, 16, 17, 20, 21},
    {14, 15, 18, 19, 22, 23},
};

TEST(MergeOrder, IndexMatchesTheSpecTable) {
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 6; ++c) EXPECT_EQ(merge_order_index(r, c, 6, 2), kSpecTable[r][c]) << r << "," << c;
}

TEST(MergeOrder, PositionsInvertTheIndex) {
  std::vector<int32_t> rows(24, -1), cols(24, -1);
  merge_order_positions(4, 6, 2, rows.data(), cols.data());
  for (int64_t k = 0; k < 24; ++k) EXPECT_EQ(kSpecTable[rows[k]][cols[k]], k) << k;
}

// Each pixel's value names its image, channel, row and column, so no two
// patch elements are equal and a misplaced element cannot go unnoticed.
std::vector<float> numbered_images(const ImageGeometry& g) {
  std::vector<float> images(g.batch * g.channels * g.height * g.width);
  std::iota(images.begin(), images.end(), 0.0f);
  return images;
}

void expect_merge_order_is_row_major_permuted(PatchLayout layout) {
  const ImageGeometry g{.batch = 2, .channels = 3, .height = 4 * 2, .width = 6 * 2, .patch = 2};
  const int64_t gh = 4, gw = 6, n = gh * gw, patch_size = 3 * 2 * 2;
  const std::vector<float> images = numbered_images(g);
  std::vector<float> row_major(images.size()), merged(images.size());
  patchify(images.data(), g, layout, row_major.data());
  patchify_merge_order(images.data(), g, 2, layout, merged.data());
  std::vector<int32_t> rows(n), cols(n);
  merge_order_positions(gh, gw, 2, rows.data(), cols.data());
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t k = 0; k < n; ++k)
      for (int64_t e = 0; e < patch_size; ++e)
        ASSERT_EQ(merged[(b * n + k) * patch_size + e],
                  row_major[(b * n + rows[k] * gw + cols[k]) * patch_size + e])
            << "image " << b << ", token " << k << ", element " << e;
}

TEST(MergeOrder, SamePatchesAsRowMajorChw) { expect_merge_order_is_row_major_permuted(PatchLayout::chw); }
TEST(MergeOrder, SamePatchesAsRowMajorHwc) { expect_merge_order_is_row_major_permuted(PatchLayout::hwc); }

TEST(MergeOrder, PatchElementsAreChannelRowCol) {
  // One 2-channel 4×4 image, P = 2, m = 2: token 1 is the patch at (0, 1).
  const ImageGeometry g{.batch = 1, .channels = 2, .height = 4, .width = 4, .patch = 2};
  const std::vector<float> image = numbered_images(g);
  std::vector<float> patches(image.size());
  patchify_merge_order(image.data(), g, 2, PatchLayout::chw, patches.data());
  // Channel 0 rows 0–1, cols 2–3; then channel 1 (offset 16) the same.
  const std::vector<float> expected = {2, 3, 6, 7, 18, 19, 22, 23};
  EXPECT_EQ(std::vector<float>(patches.begin() + 8, patches.begin() + 16), expected);
}

}  // namespace
}  // namespace kiln::cpu
