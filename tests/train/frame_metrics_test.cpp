// Per-frame average precision for online detection: AP and calibrated AP
// (De Geest et al., ECCV 2016; OadTR's utils.py) on hand-computed examples.
#include "kiln/train/frame_metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kiln/base/error.hpp"

namespace kiln {
namespace {

TEST(FrameMetrics, AveragePrecisionWorkedExample) {
  // AP and calibrated AP (De Geest et al., ECCV 2016), hand-computed: 8 frames sorted by score,
  // positives at ranks 1, 3 and 8.
  const std::vector<float> scores{0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f, 0.3f, 0.2f};
  const std::vector<uint8_t> positive{1, 0, 1, 0, 0, 0, 0, 1};
  EXPECT_NEAR(train::average_precision(scores, positive), 0.680556, 1e-6);
  EXPECT_NEAR(train::average_precision(scores, positive, true), 0.756410, 1e-6);
  const std::vector<uint8_t> none(8, 0);
  EXPECT_TRUE(std::isnan(train::average_precision(scores, none)));
}

TEST(FrameMetrics, MapExcludesBackgroundAndIsOneForPerfectScores) {
  // 3 classes, background = 0: one-hot scores of the true class.
  const std::vector<int32_t> labels{0, 1, 2, 0, 2, 1, 0};
  std::vector<float> scores(labels.size() * 3, 0.0f);
  for (size_t f = 0; f < labels.size(); ++f) scores[f * 3 + static_cast<size_t>(labels[f])] = 1.0f;
  const train::FrameMap perfect = train::frame_map(scores, labels, 3);
  EXPECT_DOUBLE_EQ(perfect.mean, 1.0);
  EXPECT_TRUE(std::isnan(perfect.per_class[0]));
  // Background scores do not matter; a class scored backwards gets a lower AP.
  for (size_t f = 0; f < labels.size(); ++f) scores[f * 3 + 2] = labels[f] == 2 ? 0.0f : 1.0f;
  const train::FrameMap worse = train::frame_map(scores, labels, 3);
  EXPECT_DOUBLE_EQ(worse.per_class[1], 1.0);
  EXPECT_LT(worse.per_class[2], 0.5);
  EXPECT_THROW(train::frame_map(scores, labels, 4), Error);
}

}  // namespace
}  // namespace kiln
