#pragma once
// The images of a packed vision sequence (SPEC-VLM §1.3): per-image token
// ranges from cu_v and each image's grid from its tokens' (row, col).
#include <cstdint>
#include <vector>

#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

struct ImageSegments {
  std::vector<int64_t> offsets;               // cu_v: image i holds tokens [offsets[i], offsets[i + 1])
  std::vector<int64_t> grid_rows, grid_cols;  // image i's grid: 1 + its largest row and column
  std::vector<int64_t> rows, cols;            // every token's grid row and column

  int64_t images() const { return static_cast<int64_t>(grid_rows.size()); }
  int64_t tokens() const { return offsets.back(); }
  int64_t image_of(int64_t token) const;  // the image holding `token`
};

// Checks and reads cu_v (i32 or i64 [images + 1], 0 first, strictly
// increasing, `tokens` last) and positions (integers [2, tokens]: row, col,
// not negative). Each failure is one line naming the image or the tensor.
ImageSegments image_segments(const Tensor& cu_v, const Tensor& positions, int64_t tokens);

}  // namespace kiln::models
