// IDX image and label files (Fashion-MNIST's format) as `kiln vit` reads them:
// the first half of the input is the image file, the rest the label file.
#include "fuzz_support.hpp"
#include "kiln/data/images.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const size_t half = size / 2;
  const auto images = kiln::fuzz::write_input(data, half, "set-images-idx3-ubyte");
  const auto labels = kiln::fuzz::write_input(data + half, size - half, "set-labels-idx1-ubyte");
  kiln::fuzz::accept_or_reject([&] { kiln::data::read_idx_pair(images, labels); });
  return 0;
}
