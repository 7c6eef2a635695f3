#include "kiln/models/vision/vision_positions.hpp"

#include <map>
#include <utility>
#include <vector>

#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/embedding.hpp"
#include "kiln/autograd/ops/interpolate.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/models/vit/resize_positions.hpp"

namespace kiln::models {

namespace {

void check_table(const Tensor& table, const char* name) {
  KILN_CHECK(table.dim() == 2 && table.size(0) >= 1, "{} positions must be a table [n, dim], got {}", name,
             table.describe());
}

// Rows of `table` at `ids` (one per token).
Tensor gather(const Tensor& table, std::vector<int64_t> ids) {
  const auto n = static_cast<int64_t>(ids.size());
  return ops::embedding(table, Tensor::from<int64_t>(ids, {n}));
}

// The table resampled to every distinct length in `lengths` (one per image),
// stacked, with where each length's rows begin.
struct StackedTables {
  Tensor table;
  std::map<int64_t, int64_t> first_row;
};

StackedTables resampled_per_length(const Tensor& table, const std::vector<int64_t>& lengths) {
  StackedTables out;
  std::vector<Tensor> parts;
  int64_t rows = 0;
  for (int64_t length : lengths) {
    if (out.first_row.contains(length)) continue;
    out.first_row[length] = rows;
    parts.push_back(length == table.size(0) ? table : ops::resize(table, 0, length, cpu::Interpolation::linear));
    rows += length;
  }
  out.table = parts.size() == 1 ? parts[0] : ops::concat(parts, 0);
  return out;
}

// Table rows for a 1-D coordinate of every token, each image reading its own resampled table.
Tensor fractional_axis(const Tensor& table, const std::vector<int64_t>& coordinate, const std::vector<int64_t>& lengths,
                       const ImageSegments& s) {
  const StackedTables stacked = resampled_per_length(table, lengths);
  std::vector<int64_t> ids(coordinate.size());
  for (int64_t i = 0; i < s.images(); ++i) {
    const int64_t first = stacked.first_row.at(lengths[static_cast<size_t>(i)]);
    for (int64_t t = s.offsets[static_cast<size_t>(i)]; t < s.offsets[static_cast<size_t>(i) + 1]; ++t)
      ids[static_cast<size_t>(t)] = first + coordinate[static_cast<size_t>(t)];
  }
  return gather(stacked.table, std::move(ids));
}

}  // namespace

Tensor factorized_positions(const Tensor& row_table, const Tensor& col_table, const ImageSegments& s) {
  check_table(row_table, "row");
  check_table(col_table, "column");
  for (int64_t i = 0; i < s.images(); ++i) {
    KILN_CHECK(s.grid_rows[static_cast<size_t>(i)] <= row_table.size(0),
               "image {}: row {} ≥ vision.max_rows {} (use factorized_fractional or rope2d)", i,
               s.grid_rows[static_cast<size_t>(i)] - 1, row_table.size(0));
    KILN_CHECK(s.grid_cols[static_cast<size_t>(i)] <= col_table.size(0),
               "image {}: column {} ≥ vision.max_cols {} (use factorized_fractional or rope2d)", i,
               s.grid_cols[static_cast<size_t>(i)] - 1, col_table.size(0));
  }
  return ops::add(gather(row_table, s.rows), gather(col_table, s.cols));
}

Tensor fractional_positions(const Tensor& row_table, const Tensor& col_table, const ImageSegments& s) {
  check_table(row_table, "row");
  check_table(col_table, "column");
  return ops::add(fractional_axis(row_table, s.rows, s.grid_rows, s), fractional_axis(col_table, s.cols, s.grid_cols, s));
}

Tensor resized_grid_positions(const Tensor& grid, const ImageSegments& s) {
  KILN_CHECK(grid.dim() == 3, "learned positions must be a grid [rows, cols, dim], got {}", grid.describe());
  const int64_t dim = grid.size(2);
  std::map<std::pair<int64_t, int64_t>, int64_t> first_row;
  std::vector<Tensor> parts;
  int64_t rows = 0;
  std::vector<int64_t> ids(static_cast<size_t>(s.tokens()));
  for (int64_t i = 0; i < s.images(); ++i) {
    const int64_t h = s.grid_rows[static_cast<size_t>(i)], w = s.grid_cols[static_cast<size_t>(i)];
    auto [at, added] = first_row.try_emplace({h, w}, rows);
    if (added) {
      parts.push_back(ops::reshape(resize_position_grid(grid, h, w), {h * w, dim}));
      rows += h * w;
    }
    for (int64_t t = s.offsets[static_cast<size_t>(i)]; t < s.offsets[static_cast<size_t>(i) + 1]; ++t)
      ids[static_cast<size_t>(t)] = at->second + s.rows[static_cast<size_t>(t)] * w + s.cols[static_cast<size_t>(t)];
  }
  return gather(parts.size() == 1 ? parts[0] : ops::concat(parts, 0), std::move(ids));
}

}  // namespace kiln::models
