#include "kiln/data/planar_image.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kiln/base/error.hpp"

// stb_image_resize compiled into this file alone (static functions), as
// images.cpp does with stb_image; its own code is not held to our warnings.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
// v0.97 asserts that each output pixel's downsampling weights sum to less
// than 1.1 before it normalises them, which fails for valid triangle-filter
// ratios such as 7 → 5 or 28 → 20 (nothings/stb#1449; 1,292 of the ratios
// between sizes up to 120) and would abort builds without NDEBUG. The
// weights are normalised right after the check, so the result is correct
// (a constant stays constant to 1e-7); sizes are checked before the call.
#define STBIR_ASSERT(condition) static_cast<void>(sizeof(condition))
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop

namespace kiln::data {

PlanarImage PlanarImage::filled(int64_t channels, int64_t height, int64_t width, float value) {
  KILN_CHECK(channels >= 1 && height >= 1 && width >= 1, "image: {} channel(s) of {}×{} px; every side must be ≥ 1",
             channels, height, width);
  return {channels, height, width, std::vector<float>(static_cast<size_t>(channels * height * width), value)};
}

PlanarImage image_from_bytes(const uint8_t* pixels, int64_t channels, int64_t height, int64_t width) {
  PlanarImage image = PlanarImage::filled(channels, height, width);
  std::transform(pixels, pixels + image.pixels.size(), image.pixels.begin(),
                 [](uint8_t v) { return static_cast<float>(v) * (1.0f / 255.0f); });
  return image;
}

PlanarImage resize_image(const PlanarImage& image, ImageSize size) {
  KILN_CHECK(size.height >= 1 && size.width >= 1, "resize_image: target {}×{} px; both sides must be ≥ 1", size.height,
             size.width);
  if (image.size() == size) return image;
  constexpr int64_t kMaxSide = std::numeric_limits<int>::max() / 4;  // stb takes int sides and byte strides
  KILN_CHECK(size.height <= kMaxSide && size.width <= kMaxSide && image.height <= kMaxSide && image.width <= kMaxSide,
             "resize_image: {}×{} → {}×{} px exceeds stb_image_resize's int sizes", image.height, image.width,
             size.height, size.width);
  PlanarImage out = PlanarImage::filled(image.channels, size.height, size.width);
  const size_t in_plane = static_cast<size_t>(image.height * image.width);
  const size_t out_plane = static_cast<size_t>(size.height * size.width);
  for (int64_t c = 0; c < image.channels; ++c) {
    const int ok = stbir_resize_float_generic(
        image.pixels.data() + c * in_plane, static_cast<int>(image.width), static_cast<int>(image.height), 0,
        out.pixels.data() + c * out_plane, static_cast<int>(size.width), static_cast<int>(size.height), 0,
        /*num_channels=*/1, STBIR_ALPHA_CHANNEL_NONE, /*flags=*/0, STBIR_EDGE_CLAMP, STBIR_FILTER_TRIANGLE,
        STBIR_COLORSPACE_LINEAR, nullptr);
    KILN_CHECK(ok == 1, "resize_image: stb_image_resize failed on {}×{} → {}×{} px", image.height, image.width,
               size.height, size.width);
  }
  return out;
}

void normalize_pixels(PlanarImage& image, double mean, double std) {
  KILN_CHECK(std > 0, "normalize_pixels: std {} must be positive", std);
  const auto scale = static_cast<float>(1.0 / std), shift = static_cast<float>(mean / std);
  for (float& v : image.pixels) v = v * scale - shift;
}

std::vector<uint8_t> preview_rgb(const PlanarImage& image) {
  KILN_CHECK(image.channels == 1 || image.channels == 3, "preview_rgb: {} channels; expected 1 (grey) or 3 (RGB)",
             image.channels);
  const auto to_byte = [](float v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f)); };
  std::vector<uint8_t> rgb(static_cast<size_t>(image.height * image.width * 3));
  for (int64_t y = 0; y < image.height; ++y)
    for (int64_t x = 0; x < image.width; ++x)
      for (int64_t k = 0; k < 3; ++k)
        rgb[static_cast<size_t>((y * image.width + x) * 3 + k)] = to_byte(image.at(image.channels == 1 ? 0 : k, y, x));
  return rgb;
}

}  // namespace kiln::data
