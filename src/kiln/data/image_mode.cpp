#include "kiln/data/image_mode.hpp"

#include "kiln/base/error.hpp"
#include "kiln/base/printable.hpp"

namespace kiln::data {

ImageMode parse_image_mode(std::string_view name) {
  if (name == "native") return ImageMode::native;
  if (name == "resize") return ImageMode::resize;
  if (name == "pad") return ImageMode::pad;
  fail("data.image_mode must be native, resize or pad, got '{}'", printable(name));
}

const char* image_mode_name(ImageMode mode) {
  const char* names[] = {"native", "resize", "pad"};
  return names[static_cast<int>(mode)];
}

PlanarImage shape_image(PlanarImage image, ImageMode mode, ImageSize size) {
  if (mode == ImageMode::native) return image;
  if (mode == ImageMode::resize) return resize_image(image, size);
  KILN_CHECK(image.height <= size.height && image.width <= size.width,
             "a {}×{} px image does not fit the {}×{} pad canvas (data.image_size)", image.height, image.width,
             size.height, size.width);
  PlanarImage canvas = PlanarImage::filled(image.channels, size.height, size.width, 0);
  for (int64_t c = 0; c < image.channels; ++c)
    for (int64_t y = 0; y < image.height; ++y)
      for (int64_t x = 0; x < image.width; ++x) canvas.at(c, y, x) = image.at(c, y, x);
  return canvas;
}

}  // namespace kiln::data
