#include "kiln/models/vision/window_attention.hpp"

#include <algorithm>

#include "kiln/base/error.hpp"

namespace kiln::models {

namespace {

// Every token of image i at its merge-order place: unit (ur, uc) holds tokens
// offset + (ur·units_wide + uc)·m² + (r mod m)·m + (c mod m).
void check_merge_order(const ImageSegments& images, int64_t i, int64_t merge) {
  const int64_t rows = images.grid_rows[i], cols = images.grid_cols[i], start = images.offsets[i];
  KILN_CHECK(rows % merge == 0 && cols % merge == 0 && images.offsets[i + 1] - start == rows * cols,
             "vision.window: image {} is not a whole {}×{} grid of {}×{} merge units (window attention needs every "
             "patch; token dropping removes some)",
             i, rows, cols, merge, merge);
  const int64_t units_wide = cols / merge;
  for (int64_t t = start; t < images.offsets[i + 1]; ++t) {
    const int64_t r = images.rows[t], c = images.cols[t];
    const int64_t expected = start + ((r / merge) * units_wide + c / merge) * merge * merge + (r % merge) * merge + c % merge;
    KILN_CHECK(expected == t, "vision.window: image {} is not in merge order (token {} holds ({}, {}))", i, t - start, r,
               c);
  }
}

}  // namespace

WindowPartition window_partition(const ImageSegments& images, int64_t merge, int64_t window) {
  KILN_CHECK(merge >= 1 && window >= merge && window % merge == 0,
             "vision.window = {} must be a positive multiple of vision.merge_size {}", window, merge);
  const int64_t w = window / merge, unit = merge * merge;  // window side in units; tokens per unit
  WindowPartition p;
  p.cu_w.push_back(0);
  for (int64_t i = 0; i < images.images(); ++i) {
    check_merge_order(images, i, merge);
    const int64_t units_high = images.grid_rows[i] / merge, units_wide = images.grid_cols[i] / merge;
    for (int64_t wr = 0; wr < units_high; wr += w)
      for (int64_t wc = 0; wc < units_wide; wc += w) {
        for (int64_t ur = wr; ur < std::min(wr + w, units_high); ++ur)
          for (int64_t uc = wc; uc < std::min(wc + w, units_wide); ++uc)
            for (int64_t k = 0; k < unit; ++k) p.index.push_back(images.offsets[i] + (ur * units_wide + uc) * unit + k);
        p.cu_w.push_back(static_cast<int64_t>(p.index.size()));
      }
  }
  return p;
}

}  // namespace kiln::models
