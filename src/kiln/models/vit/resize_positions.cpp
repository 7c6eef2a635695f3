#include "kiln/models/vit/resize_positions.hpp"

#include <cmath>

#include "kiln/autograd/ops/interpolate.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"

namespace kiln::models {

Tensor resize_position_grid(const Tensor& grid, int64_t height, int64_t width) {
  KILN_CHECK(grid.dim() == 3, "position grid must be [rows, cols, dim], got {}", grid.describe());
  KILN_CHECK(height >= 1 && width >= 1, "position grid: cannot resize to {}×{}", height, width);
  Tensor out = grid;
  if (height != grid.size(0)) out = ops::resize(out, 0, height, cpu::Interpolation::cubic);
  if (width != grid.size(1)) out = ops::resize(out, 1, width, cpu::Interpolation::cubic);
  return out;
}

Tensor resize_position_table(const Tensor& table, int64_t height, int64_t width) {
  KILN_CHECK(table.dim() == 3 && table.size(0) == 1 && table.size(1) >= 2,
             "position table must be [1, 1 + G², dim], got {}", table.describe());
  const int64_t cells = table.size(1) - 1, dim = table.size(2);
  const auto side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(cells))));
  KILN_CHECK(side * side == cells, "position table {}: {} rows after the class row is not a square grid",
             table.describe(), cells);
  if (height == side && width == side) return table;
  const Tensor grid = ops::reshape(ops::narrow(table, 1, 1, cells), {side, side, dim});
  const Tensor resized = ops::reshape(resize_position_grid(grid, height, width), {1, height * width, dim});
  return ops::concat({ops::narrow(table, 1, 0, 1), resized}, 1);
}

VitModel vit_at_image_size(const VitModel& model, int64_t image_size) {
  VitConfig config = model.config();
  KILN_CHECK(image_size >= config.patch_size && image_size % config.patch_size == 0,
             "--image-size {} must be a positive multiple of the model's patch size {}", image_size,
             config.patch_size);
  config.image_size = image_size;
  VitModel resized(config, 0);
  std::map<std::string, Tensor> weights = model.parameters();
  const std::string positions = "vit.embeddings.position_embeddings";
  if (!config.sincos_positions)
    weights[positions] = resize_position_table(weights.at(positions).detach(), config.grid(), config.grid());
  resized.load_parameters(weights);
  return resized;
}

}  // namespace kiln::models
