// Image sets for the vision commands: an IDX prefix (MNIST / Fashion-MNIST
// files "<prefix>-images-idx3-ubyte[.gz]" and "<prefix>-labels-idx1-ubyte[.gz]")
// or a folder with one sub-folder of PNG/JPEG images per class.
#include <filesystem>

#include "kiln/data/images.hpp"
#include "kiln/train/image_trainer.hpp"

namespace kiln::cli {

train::ImageData load_image_set(const std::string& spec) {
  const bool folder = std::filesystem::is_directory(spec);
  data::ImageSet set = folder ? data::read_image_folder(spec) : data::read_idx_set(spec);
  train::ImageData out;
  out.images = folder ? set.images : set.images.unsqueeze(1).contiguous();
  out.labels = set.labels;
  out.classes = set.classes;
  return out;
}

}  // namespace kiln::cli
