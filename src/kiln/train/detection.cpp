#include "kiln/train/detection.hpp"

#include <algorithm>
#include <cmath>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"

namespace kiln::train {

DetectionBatch detection_batch(const std::vector<FrameSet>& streams, const std::vector<std::pair<int64_t, int64_t>>& ends,
                               int64_t window, int64_t queries) {
  KILN_CHECK(!streams.empty(), "no streams to draw detection windows from");
  const int64_t dim = streams.front().dim, batch = static_cast<int64_t>(ends.size());
  DetectionBatch out;
  out.windows = Tensor::zeros({batch, window, dim});
  out.current = Tensor::empty({batch}, DType::i64);
  out.future = Tensor::full({batch, std::max<int64_t>(queries, 1)}, -100, DType::i64);
  float* w = out.windows.data<float>();
  for (int64_t b = 0; b < batch; ++b) {
    const auto [s, end] = ends[static_cast<size_t>(b)];
    const FrameSet& stream = streams[static_cast<size_t>(s)];
    KILN_CHECK(end >= 0 && end < stream.frames(), "detection window end {} outside a stream of {} frames", end,
               stream.frames());
    const int64_t first = end - window + 1;
    for (int64_t t = std::max<int64_t>(first, 0); t <= end; ++t)
      std::copy_n(stream.features.data() + t * dim, dim, w + (b * window + (t - first)) * dim);
    out.current.data<int64_t>()[b] = stream.labels[static_cast<size_t>(end)];
    for (int64_t q = 0; q < queries && end + 1 + q < stream.frames(); ++q)
      out.future.data<int64_t>()[b * queries + q] = stream.labels[static_cast<size_t>(end + 1 + q)];
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> random_window_ends(const std::vector<FrameSet>& streams, int64_t count,
                                                            uint64_t seed, uint64_t draw) {
  int64_t total = 0;
  for (const FrameSet& s : streams) total += s.frames();
  KILN_CHECK(total > 0, "the streams have no frames");
  const PhiloxKey key{seed, 0xde7ec70000000ull + draw};
  std::vector<std::pair<int64_t, int64_t>> ends;
  for (int64_t i = 0; i < count; ++i) {
    const std::array<uint32_t, 4> bits = philox_block(key, static_cast<uint64_t>(i));
    int64_t frame = static_cast<int64_t>(((static_cast<uint64_t>(bits[0]) << 32) | bits[1]) % static_cast<uint64_t>(total));
    int64_t s = 0;
    while (frame >= streams[static_cast<size_t>(s)].frames()) frame -= streams[static_cast<size_t>(s++)].frames();
    ends.emplace_back(s, frame);
  }
  return ends;
}

std::vector<float> score_stream(const FrameSet& stream, const std::function<Tensor(const Tensor&)>& logits,
                                int64_t window, int64_t classes, int64_t batch) {
  NoGradGuard no_grad;
  const std::vector<FrameSet> one{stream};
  std::vector<float> scores(static_cast<size_t>(stream.frames() * classes));
  for (int64_t first = 0; first < stream.frames(); first += batch) {
    std::vector<std::pair<int64_t, int64_t>> ends;
    for (int64_t t = first; t < std::min(first + batch, stream.frames()); ++t) ends.emplace_back(0, t);
    const std::vector<float> out = logits(detection_batch(one, ends, window, 0).windows).contiguous().to_vector<float>();
    KILN_CHECK(out.size() == ends.size() * static_cast<size_t>(classes), "detector gave {} logits for {} frames",
               out.size(), ends.size());
    for (size_t r = 0; r < ends.size(); ++r) {
      const float* row = out.data() + r * static_cast<size_t>(classes);
      const float peak = *std::max_element(row, row + classes);
      double total = 0;
      for (int64_t c = 0; c < classes; ++c) total += std::exp(static_cast<double>(row[c] - peak));
      float* s = scores.data() + (static_cast<size_t>(first) + r) * static_cast<size_t>(classes);
      for (int64_t c = 0; c < classes; ++c) s[c] = static_cast<float>(std::exp(static_cast<double>(row[c] - peak)) / total);
    }
  }
  return scores;
}

}  // namespace kiln::train
