#include "kiln/train/interim_image_resize.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop

#include "kiln/base/error.hpp"

namespace kiln::train {

Tensor resize_image_batch(const Tensor& images, int64_t height, int64_t width) {
  KILN_CHECK(images.dim() == 4 && images.dtype() == DType::f32, "resize: images must be f32 [B, C, H, W], got {}",
             images.describe());
  KILN_CHECK(height >= 1 && width >= 1 && height <= 1 << 14 && width <= 1 << 14,
             "resize: {}×{} px is outside 1 to 16384 per side", height, width);
  if (images.size(2) == height && images.size(3) == width) return images;
  const Tensor x = images.contiguous();
  const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  Tensor out = Tensor::empty({x.size(0), x.size(1), height, width});
  for (int64_t p = 0; p < planes; ++p) {
    const int ok = stbir_resize_float_generic(
        x.data<float>() + p * h * w, static_cast<int>(w), static_cast<int>(h), 0, out.data<float>() + p * height * width,
        static_cast<int>(width), static_cast<int>(height), 0, 1, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
        STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR, nullptr);
    KILN_CHECK(ok == 1, "resize: stb_image_resize failed for {}×{} → {}×{}", h, w, height, width);
  }
  return out;
}

}  // namespace kiln::train
