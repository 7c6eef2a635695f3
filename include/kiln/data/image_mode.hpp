#pragma once
// How an image reaches a vision encoder (`data.image_mode`), the
// fixed-resolution baselines of SPEC-VLM §7.2 and §10 against native
// resolution:
//  - native: its own size, one token per patch;
//  - resize: resampled to one fixed size, the classic fixed-resolution input;
//  - pad: pasted top-left on one fixed canvas of zeros, so every image costs
//    the largest image's tokens but keeps its pixels.
#include <string_view>

#include "kiln/data/planar_image.hpp"
#include "kiln/data/vision_tokens.hpp"

namespace kiln::data {

enum class ImageMode { native, resize, pad };

// "native", "resize" or "pad"; anything else is an error naming data.image_mode.
ImageMode parse_image_mode(std::string_view name);
const char* image_mode_name(ImageMode mode);

// `image` as `mode` shapes it to `size` (native returns it unchanged). An
// image larger than the pad canvas is an error, never cropped.
PlanarImage shape_image(PlanarImage image, ImageMode mode, ImageSize size);

}  // namespace kiln::data
