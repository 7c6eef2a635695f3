#pragma once
// Planar float images [C, H, W], the form the native-resolution data path
// hands to patchify, and their resampling to a target size.
//
// Resampling uses stb_image_resize from Debian's libstb-dev (v0.97, the
// version Debian 12 ships; its float entry point is stbir_resize_float_generic)
// with the triangle filter, clamped edges and linear colour space:
//  - the triangle is non-negative, so no output leaves the range of its
//    inputs beyond float rounding (no ringing: ink stays in [0, 1], a constant
//    image stays constant),
//    unlike the Catmull-Rom and Mitchell filters stb picks by default;
//  - when shrinking, stb widens it by the scale factor, which averages every
//    source pixel the output pixel covers (antialiasing: a 56-px garment
//    brought to 16 px keeps its thin strokes as grey rather than dropping them);
//  - when enlarging it is bilinear interpolation;
//  - clamped edges repeat the border pixel instead of darkening the border
//    with zeros, and pixel values are intensities (no sRGB decoding).
// Channels are resampled one plane at a time, so nothing mixes them.
#include <cstdint>
#include <vector>

#include "kiln/data/vision_tokens.hpp"

namespace kiln::data {

struct PlanarImage {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<float> pixels;  // [channels, height, width], row-major

  // A channels×height×width image with every pixel `value`.
  static PlanarImage filled(int64_t channels, int64_t height, int64_t width, float value = 0);

  ImageSize size() const { return {height, width}; }
  float& at(int64_t channel, int64_t y, int64_t x) { return pixels[index(channel, y, x)]; }
  float at(int64_t channel, int64_t y, int64_t x) const { return pixels[index(channel, y, x)]; }
  bool operator==(const PlanarImage&) const = default;

 private:
  size_t index(int64_t channel, int64_t y, int64_t x) const {
    return static_cast<size_t>((channel * height + y) * width + x);
  }
};

// 8-bit pixels [channels, height, width] as intensities in [0, 1] (value / 255).
PlanarImage image_from_bytes(const uint8_t* pixels, int64_t channels, int64_t height, int64_t width);

// `image` resampled to `size` as the header describes; a copy when the size
// is already `size`. Both sides must be at least 1.
PlanarImage resize_image(const PlanarImage& image, ImageSize size);

// (x − mean) / std on every pixel: kiln vit's input normalisation.
void normalize_pixels(PlanarImage& image, double mean, double std);

// 8-bit RGB, row-major, for a PNG preview: one channel is drawn as grey,
// three as RGB; values are clamped to [0, 1] and rounded.
std::vector<uint8_t> preview_rgb(const PlanarImage& image);

}  // namespace kiln::data
