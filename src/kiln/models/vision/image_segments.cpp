#include "kiln/models/vision/image_segments.hpp"

#include <algorithm>

#include "kiln/base/error.hpp"

namespace kiln::models {

int64_t ImageSegments::image_of(int64_t token) const {
  return std::upper_bound(offsets.begin(), offsets.end(), token) - offsets.begin() - 1;
}

ImageSegments image_segments(const Tensor& cu_v, const Tensor& positions, int64_t tokens) {
  KILN_CHECK(cu_v.dim() == 1 && cu_v.numel() >= 2 && (cu_v.dtype() == DType::i32 || cu_v.dtype() == DType::i64),
             "vision encoder: cu_v must be i32 or i64 [images + 1], got {}", cu_v.describe());
  KILN_CHECK(positions.dim() == 2 && positions.size(0) == 2 && positions.size(1) == tokens &&
                 (positions.dtype() == DType::i32 || positions.dtype() == DType::i64),
             "vision encoder: positions must be integers [2, {}] (row, col of every token), got {}", tokens,
             positions.describe());
  ImageSegments s;
  s.offsets = cu_v.to(DType::i64).contiguous().to_vector<int64_t>();
  KILN_CHECK(s.offsets.front() == 0 && s.offsets.back() == tokens,
             "vision encoder: cu_v must run from 0 to the {} tokens, got {} to {}", tokens, s.offsets.front(),
             s.offsets.back());
  const auto grid = positions.to(DType::i64).contiguous().to_vector<int64_t>();
  s.rows.assign(grid.begin(), grid.begin() + tokens);
  s.cols.assign(grid.begin() + tokens, grid.end());
  const int64_t images = cu_v.numel() - 1;
  for (int64_t i = 0; i < images; ++i) {
    const int64_t begin = s.offsets[static_cast<size_t>(i)], end = s.offsets[static_cast<size_t>(i) + 1];
    KILN_CHECK(end > begin, "vision encoder: cu_v is not increasing at image {} ({} then {})", i, begin, end);
    int64_t rows = 0, cols = 0;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r = s.rows[static_cast<size_t>(t)], c = s.cols[static_cast<size_t>(t)];
      KILN_CHECK(r >= 0 && c >= 0, "image {}: token {} has a negative position ({}, {})", i, t - begin, r, c);
      rows = std::max(rows, r + 1);
      cols = std::max(cols, c + 1);
    }
    s.grid_rows.push_back(rows);
    s.grid_cols.push_back(cols);
  }
  return s;
}

}  // namespace kiln::models
