#pragma once
// Per-frame detection metrics of online action detection (as OadTR's utils.py;
// calibrated AP from De Geest et al., ECCV 2016): non-interpolated average
// precision per class over all scored frames, its mean over the action classes
// (THUMOS'14 mAP, background excluded), and calibrated AP (TVSeries cAP).
#include <cstdint>
#include <span>
#include <vector>

namespace kiln::train {

// Frames sorted by descending score (ties keep frame order):
// AP = (1/#pos)·Σ_{k positive} precision@k. Calibrated: precision@k becomes
// w·TP/(w·TP + FP) with w = #neg/#pos. NaN when there is no positive frame.
double average_precision(std::span<const float> scores, std::span<const uint8_t> positive, bool calibrated = false);

struct FrameMap {
  std::vector<double> per_class;  // AP of each class (NaN for background and classes without positives)
  double mean = 0;                // over classes 1..C−1 that have positives
};

// scores row-major [frames × classes]; labels one class per frame; class 0 is background.
FrameMap frame_map(std::span<const float> scores, std::span<const int32_t> labels, int64_t classes,
                   bool calibrated = false);

}  // namespace kiln::train
