#pragma once
// Online detection over labelled streams of frame features: training windows
// of the last T frames (zeros before a stream's start), current and future
// targets, and per-frame scores of a whole stream from windows that end at
// every frame — each uses only frames up to its own.
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "kiln/tensor/tensor.hpp"
#include "kiln/train/speech_features.hpp"

namespace kiln::train {

struct DetectionBatch {
  Tensor windows;  // f32 [B, T, dim]
  Tensor current;  // i64 [B]: label of the window's last frame
  Tensor future;   // i64 [B, queries]: labels of the next frames, −100 past the stream's end
};

// Windows ending at (stream, frame) for each entry of `ends`.
DetectionBatch detection_batch(const std::vector<FrameSet>& streams, const std::vector<std::pair<int64_t, int64_t>>& ends,
                               int64_t window, int64_t queries);

// `count` random window ends, uniform over every frame of every stream; pure in (seed, draw).
std::vector<std::pair<int64_t, int64_t>> random_window_ends(const std::vector<FrameSet>& streams, int64_t count,
                                                            uint64_t seed, uint64_t draw);

// Softmax class probabilities [frames × classes] of every frame of `stream`,
// from `logits` (windows [B, T, dim] → [B, classes]) in batches of `batch`.
std::vector<float> score_stream(const FrameSet& stream, const std::function<Tensor(const Tensor&)>& logits,
                                int64_t window, int64_t classes, int64_t batch = 256);

}  // namespace kiln::train
