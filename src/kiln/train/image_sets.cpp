#include "kiln/train/image_sets.hpp"

#include <filesystem>

#include "kiln/data/images.hpp"

namespace kiln::train {

ImageData load_image_set(const std::string& spec) {
  const bool folder = std::filesystem::is_directory(spec);
  data::ImageSet set = folder ? data::read_image_folder(spec) : data::read_idx_set(spec);
  ImageData out;
  out.images = folder ? set.images : set.images.unsqueeze(1).contiguous();
  out.labels = set.labels;
  out.classes = set.classes;
  return out;
}

}  // namespace kiln::train
