#pragma once
// Image sets as the image trainers take them, from a path: an IDX prefix
// (MNIST / Fashion-MNIST files "<prefix>-images-idx3-ubyte[.gz]" and
// "<prefix>-labels-idx1-ubyte[.gz]") or a folder with one sub-folder of
// PNG/JPEG images per class. Images come out [N, C, H, W] u8.
#include <string>

#include "kiln/train/image_trainer.hpp"

namespace kiln::train {

ImageData load_image_set(const std::string& spec);

}  // namespace kiln::train
