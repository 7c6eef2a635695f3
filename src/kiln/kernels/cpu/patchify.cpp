#include "kiln/kernels/cpu/patchify.hpp"

namespace kiln::cpu {

namespace {

// Calls visit(pixel index in the image tensor, element index in the patch
// tensor) for every pixel; patch_index(row, col) is a patch's place in its
// image's sequence.
template <typename PatchIndex, typename Visit>
void for_each_patch_pixel(const ImageGeometry& g, PatchLayout layout, PatchIndex&& patch_index, Visit&& visit) {
  const int64_t p = g.patch, c = g.channels, gh = g.height / p, gw = g.width / p, patch_size = c * p * p;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t r = 0; r < gh; ++r)
      for (int64_t q = 0; q < gw; ++q) {
        const int64_t patch_start = (n * gh * gw + patch_index(r, q)) * patch_size;
        for (int64_t ch = 0; ch < c; ++ch)
          for (int64_t i = 0; i < p; ++i)
            for (int64_t j = 0; j < p; ++j) {
              const int64_t inside = layout == PatchLayout::chw ? (ch * p + i) * p + j : (i * p + j) * c + ch;
              visit(((n * c + ch) * g.height + r * p + i) * g.width + q * p + j, patch_start + inside);
            }
      }
}

}  // namespace

void patchify(const float* images, const ImageGeometry& g, PatchLayout layout, float* patches) {
  const int64_t gw = g.width / g.patch;
  for_each_patch_pixel(
      g, layout, [gw](int64_t r, int64_t q) { return r * gw + q; },
      [&](int64_t pixel, int64_t element) { patches[element] = images[pixel]; });
}

void unpatchify(const float* patches, const ImageGeometry& g, PatchLayout layout, float* images) {
  const int64_t gw = g.width / g.patch;
  for_each_patch_pixel(
      g, layout, [gw](int64_t r, int64_t q) { return r * gw + q; },
      [&](int64_t pixel, int64_t element) { images[pixel] = patches[element]; });
}

int64_t merge_order_index(int64_t row, int64_t col, int64_t grid_width, int64_t merge) {
  const int64_t block = (row / merge) * (grid_width / merge) + col / merge;
  return block * merge * merge + (row % merge) * merge + col % merge;
}

void patchify_merge_order(const float* images, const ImageGeometry& g, int64_t merge, PatchLayout layout,
                          float* patches) {
  const int64_t gw = g.width / g.patch;
  for_each_patch_pixel(
      g, layout, [gw, merge](int64_t r, int64_t q) { return merge_order_index(r, q, gw, merge); },
      [&](int64_t pixel, int64_t element) { patches[element] = images[pixel]; });
}

void merge_order_positions(int64_t grid_height, int64_t grid_width, int64_t merge, int32_t* rows, int32_t* cols) {
  for (int64_t r = 0; r < grid_height; ++r)
    for (int64_t q = 0; q < grid_width; ++q) {
      const int64_t k = merge_order_index(r, q, grid_width, merge);
      rows[k] = static_cast<int32_t>(r);
      cols[k] = static_cast<int32_t>(q);
    }
}

}  // namespace kiln::cpu
