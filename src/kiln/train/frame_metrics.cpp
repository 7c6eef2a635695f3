#include "kiln/train/frame_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kiln/base/error.hpp"

namespace kiln::train {

double average_precision(std::span<const float> scores, std::span<const uint8_t> positive, bool calibrated) {
  KILN_CHECK(scores.size() == positive.size(), "average precision: {} scores for {} labels", scores.size(),
             positive.size());
  const auto positives = static_cast<double>(std::count_if(positive.begin(), positive.end(), [](uint8_t p) { return p != 0; }));
  if (positives == 0) return std::numeric_limits<double>::quiet_NaN();
  const double weight = calibrated ? (static_cast<double>(scores.size()) - positives) / positives : 1.0;
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  double true_positives = 0, false_positives = 0, sum = 0;
  for (size_t i : order) {
    if (positive[i] != 0) {
      true_positives += 1;
      sum += weight * true_positives / (weight * true_positives + false_positives);
    } else {
      false_positives += 1;
    }
  }
  return sum / positives;
}

FrameMap frame_map(std::span<const float> scores, std::span<const int32_t> labels, int64_t classes, bool calibrated) {
  KILN_CHECK(classes >= 2 && scores.size() == labels.size() * static_cast<size_t>(classes),
             "frame mAP: {} scores for {} frames of {} classes", scores.size(), labels.size(), classes);
  const size_t frames = labels.size();
  FrameMap out;
  out.per_class.assign(static_cast<size_t>(classes), std::numeric_limits<double>::quiet_NaN());
  std::vector<float> column(frames);
  std::vector<uint8_t> positive(frames);
  double total = 0;
  int64_t counted = 0;
  for (int64_t c = 1; c < classes; ++c) {
    for (size_t f = 0; f < frames; ++f) {
      column[f] = scores[f * static_cast<size_t>(classes) + static_cast<size_t>(c)];
      positive[f] = labels[f] == c ? 1 : 0;
    }
    const double ap = average_precision(column, positive, calibrated);
    out.per_class[static_cast<size_t>(c)] = ap;
    if (!std::isnan(ap)) {
      total += ap;
      ++counted;
    }
  }
  out.mean = counted > 0 ? total / static_cast<double>(counted) : std::numeric_limits<double>::quiet_NaN();
  return out;
}

}  // namespace kiln::train
