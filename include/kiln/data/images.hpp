#pragma once
// Image data sets read into memory as u8 tensors with i64 labels:
//  - IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed;
//  - image folders: <root>/<class>/<image>.png|.jpg|.jpeg, decoded with
//    stb_image; every image must share one height, width and channel count
//    (nothing is resized or converted, so a mixed folder is an error).
// Every failure is a kiln::Error of one line naming the file.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kiln/tensor/tensor.hpp"

namespace kiln::data {

struct ImageSet {
  Tensor images;                         // u8: IDX [N, H, W]; folder [N, C, H, W]
  Tensor labels;                         // i64 [N]
  int64_t classes = 0;                   // IDX: largest label + 1; folder: number of class folders
  std::vector<std::string> class_names;  // folder names in label order (empty for IDX)
};

// Any unsigned-byte IDX file (magic 00 00 08 <rank>), as a u8 tensor of the
// shape its header gives. The data must end exactly where the header says.
Tensor read_idx(const std::filesystem::path& path);

// An images file (rank 3) and its labels file (rank 1) with equal counts.
ImageSet read_idx_pair(const std::filesystem::path& images, const std::filesystem::path& labels);

// `prefix`-images-idx3-ubyte and `prefix`-labels-idx1-ubyte, each with ".gz"
// preferred when both exist: e.g. /usr/share/datasets/fashion-mnist/t10k.
ImageSet read_idx_set(const std::string& prefix);

// One sub-folder per class (sorted by name → label 0, 1, ...), images sorted
// by file name within each; other files and hidden entries are ignored.
ImageSet read_image_folder(const std::filesystem::path& root);

// One PNG or JPEG file as u8 [channels, H, W], converted by stb_image to
// `channels` (1 = grey, 3 = RGB).
Tensor read_image_file(const std::filesystem::path& path, int channels);

}  // namespace kiln::data
