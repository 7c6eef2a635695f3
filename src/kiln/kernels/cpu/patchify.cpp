#include "kiln/kernels/cpu/patchify.hpp"

namespace kiln::cpu {

namespace {

// Calls visit(pixel index in the image tensor, element index in the patch tensor) for every pixel.
template <typename Visit>
void for_each_patch_pixel(const ImageGeometry& g, PatchLayout layout, Visit&& visit) {
  const int64_t p = g.patch, c = g.channels, gh = g.height / p, gw = g.width / p, patch_size = c * p * p;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t r = 0; r < gh; ++r)
      for (int64_t q = 0; q < gw; ++q) {
        const int64_t patch_start = ((n * gh + r) * gw + q) * patch_size;
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
  for_each_patch_pixel(g, layout, [&](int64_t pixel, int64_t element) { patches[element] = images[pixel]; });
}

void unpatchify(const float* patches, const ImageGeometry& g, PatchLayout layout, float* images) {
  for_each_patch_pixel(g, layout, [&](int64_t pixel, int64_t element) { images[pixel] = patches[element]; });
}

}  // namespace kiln::cpu
