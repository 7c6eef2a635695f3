// ToMe's bipartite soft matching and merge weights on hand-worked examples:
// normalisation, the protected class token, ties between matches (smallest b)
// and between scores (stable order), the fixed output order, batches, and
// size-weighted averages.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kiln/kernels/cpu/token_merging.hpp"

namespace kiln::cpu {
namespace {

std::vector<int64_t> match(const std::vector<double>& metric, const TokenMatchShape& shape) {
  std::vector<int64_t> destination(static_cast<size_t>(shape.batch * shape.tokens), -1);
  bipartite_soft_matching(metric.data(), shape, destination.data());
  return destination;
}

// Seven 2-D tokens, class token first. A = {0, 2, 4, 6}, B = {1, 3, 5}.
// Cosine similarities: a1 = (2, 0.1) is closest to b0 (0.9988); a2 = (0, 3)
// equals b1's direction (1); a3 = (−1, 1) is 0.7071 from both b1 and b2 (a
// tie: b1, the smaller). Ranked: a2, a1, a3, then the class token (−∞).
const std::vector<double> kSeven = {1, 0, 1, 0, 2, 0.1, 0, 1, 0, 3, -1, 0, -1, 1};

TEST(BipartiteSoftMatching, HandWorkedSevenTokens) {
  // Two merges: a2 → b1 and a1 → b0. Unmerged A (0, then a3 at position 6)
  // come first in ascending position, then b0, b1, b2.
  EXPECT_EQ(match(kSeven, {1, 7, 2, 2, true}), (std::vector<int64_t>{0, 2, 2, 3, 3, 4, 1}));
  // One merge: only a2 → b1; unmerged a0, a1, a3 keep their order.
  EXPECT_EQ(match(kSeven, {1, 7, 2, 1, true}), (std::vector<int64_t>{0, 3, 1, 4, 4, 5, 2}));
  // Three merges (the most 7 tokens allow): a3 joins b1 as well; the class token stays alone.
  EXPECT_EQ(match(kSeven, {1, 7, 2, 3, true}), (std::vector<int64_t>{0, 1, 1, 2, 2, 3, 2}));
}

TEST(BipartiteSoftMatching, UnprotectedFirstTokenMergesLikeAnyOther) {
  // Without protection a0 = (1, 0) matches b0 exactly and ranks with a2 (both 1); the stable sort keeps a0 first.
  EXPECT_EQ(match(kSeven, {1, 7, 2, 1, false}), (std::vector<int64_t>{3, 3, 0, 4, 1, 5, 2}));
}

TEST(BipartiteSoftMatching, EqualScoresKeepPositionOrder) {
  // Every A token matches with similarity 1: the earliest ones are merged first.
  const std::vector<double> metric = {1, 0, 1, 0, 1, 0, 0, 1, 0, 1};
  EXPECT_EQ(match(metric, {1, 5, 2, 1, false}), (std::vector<int64_t>{2, 2, 0, 3, 1}));
  EXPECT_EQ(match(metric, {1, 5, 2, 2, false}), (std::vector<int64_t>{1, 1, 1, 2, 0}));
}

TEST(BipartiteSoftMatching, ScaleDoesNotMatterAndZeroRowsMatchNothingBetter) {
  std::vector<double> scaled = kSeven;
  for (size_t i = 0; i < scaled.size(); ++i) scaled[i] *= 1.0 + 0.5 * static_cast<double>(i / 2);
  EXPECT_EQ(match(scaled, {1, 7, 2, 2, true}), match(kSeven, {1, 7, 2, 2, true}));
  // a3 set to zero: similarity 0 to everything (ties: b0), ranked below a1 and a2.
  std::vector<double> zero = kSeven;
  zero[12] = zero[13] = 0;
  EXPECT_EQ(match(zero, {1, 7, 2, 3, true}), (std::vector<int64_t>{0, 1, 1, 2, 2, 3, 1}));
}

TEST(BipartiteSoftMatching, SequencesOfABatchMatchAloneAndOffsetTheirRows) {
  std::vector<double> both = kSeven;
  const std::vector<double> second = {1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1};
  both.insert(both.end(), second.begin(), second.end());
  const std::vector<int64_t> batched = match(both, {2, 7, 2, 2, true});
  const std::vector<int64_t> alone0 = match(kSeven, {1, 7, 2, 2, true}), alone1 = match(second, {1, 7, 2, 2, true});
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(batched[i], alone0[i]) << i;
    EXPECT_EQ(batched[7 + i], alone1[i] + 5) << i;  // the second sequence's rows follow the first's 5
  }
}

TEST(BipartiteSoftMatching, NoMergesMovesNothing) {
  EXPECT_EQ(match(kSeven, {1, 7, 2, 0, true}), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(BipartiteSoftMatching, FloatAgreesWithDouble) {
  const std::vector<float> metric(kSeven.begin(), kSeven.end());
  std::vector<int64_t> destination(7);
  bipartite_soft_matching(metric.data(), {1, 7, 2, 2, true}, destination.data());
  EXPECT_EQ(destination, match(kSeven, {1, 7, 2, 2, true}));
}

TEST(MergeWeights, SizeWeightedAverages) {
  const std::vector<double> sizes = {1, 2, 3, 1, 1};
  const std::vector<int64_t> destination = {0, 2, 2, 1, 1};
  std::vector<double> weights(5), merged(3);
  merge_weights(sizes.data(), destination.data(), 5, 3, weights.data(), merged.data());
  EXPECT_EQ(merged, (std::vector<double>{1, 2, 5}));
  EXPECT_EQ(weights, (std::vector<double>{1, 0.4, 0.6, 0.5, 0.5}));
  merge_weights<double>(nullptr, destination.data(), 5, 3, weights.data(), merged.data());  // all sizes 1
  EXPECT_EQ(merged, (std::vector<double>{1, 2, 2}));
  EXPECT_EQ(weights, (std::vector<double>{1, 0.5, 0.5, 0.5, 0.5}));
}

}  // namespace
}  // namespace kiln::cpu
