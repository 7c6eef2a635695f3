#include "kiln/data/mrope_positions.hpp"

#include <algorithm>
#include <utility>

#include "kiln/base/error.hpp"

namespace kiln::data {

namespace {

void check_placeholders(std::span<const int64_t> tokens, int64_t image_pad_id, std::span<const LlmGrid> images,
                        std::string_view sample) {
  int64_t features = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    KILN_CHECK(images[i].height >= 1 && images[i].width >= 1, "{}: image {} has an empty {}×{} llm grid", sample, i,
               images[i].height, images[i].width);
    features += images[i].height * images[i].width;
  }
  const auto placeholders = std::count(tokens.begin(), tokens.end(), image_pad_id);
  KILN_CHECK(placeholders == features, "{}: {} <|image_pad|> tokens but its {} images give {} features", sample,
             placeholders, images.size(), features);
}

// Consecutive `id` tokens from `start` on.
int64_t run_length(std::span<const int64_t> tokens, size_t start, int64_t id) {
  size_t end = start;
  while (end < tokens.size() && tokens[end] == id) ++end;
  return static_cast<int64_t>(end - start);
}

class PositionWriter {
 public:
  explicit PositionWriter(size_t tokens) {
    out_.t.reserve(tokens);
    out_.h.reserve(tokens);
    out_.w.reserve(tokens);
  }

  // `count` text tokens: t = h = w = next, next + 1, ...
  void text(int64_t count) {
    for (int64_t i = 0; i < count; ++i) push(next_ + i, next_ + i, next_ + i);
    next_ += count;
  }

  // An image's tokens in row-major grid order: t fixed (a still image has
  // one frame), h and w its grid coordinates; all offset by `next`.
  void image(const LlmGrid& grid) {
    for (int64_t y = 0; y < grid.height; ++y)
      for (int64_t x = 0; x < grid.width; ++x) push(next_, next_ + y, next_ + x);
    next_ += std::max<int64_t>(grid.height, grid.width);
  }

  MropePositions finish() && {
    // next_ is the largest id so far + 1 (0 for no tokens).
    out_.rope_delta = next_ - static_cast<int64_t>(out_.t.size());
    return std::move(out_);
  }

 private:
  void push(int64_t t, int64_t h, int64_t w) {
    out_.t.push_back(t);
    out_.h.push_back(h);
    out_.w.push_back(w);
  }

  MropePositions out_;
  int64_t next_ = 0;  // largest id so far + 1: where text resumes
};

}  // namespace

MropePositions mrope_position_ids(std::span<const int64_t> tokens, int64_t image_pad_id,
                                  std::span<const LlmGrid> images, std::string_view sample) {
  check_placeholders(tokens, image_pad_id, images, sample);
  PositionWriter positions(tokens.size());
  size_t start = 0;  // first token not yet given a position
  for (size_t i = 0; i < images.size(); ++i) {
    const auto pad = std::find(tokens.begin() + static_cast<std::ptrdiff_t>(start), tokens.end(), image_pad_id);
    const auto first = static_cast<size_t>(pad - tokens.begin());
    const LlmGrid& grid = images[i];
    const int64_t run = run_length(tokens, first, image_pad_id);
    KILN_CHECK(run == grid.height * grid.width,
               "{}: image {} has a run of {} <|image_pad|> tokens but its {}×{} llm grid gives {}", sample, i, run,
               grid.height, grid.width, grid.height * grid.width);
    positions.text(static_cast<int64_t>(first - start));
    positions.image(grid);
    start = first + static_cast<size_t>(run);
  }
  positions.text(static_cast<int64_t>(tokens.size() - start));
  return std::move(positions).finish();
}

}  // namespace kiln::data
