// Image sets for the vision commands: IDX files (MNIST / Fashion-MNIST
// format, gzip-compressed or not) named by a prefix, e.g.
// /usr/share/datasets/fashion-mnist/train → train-images-idx3-ubyte.gz and
// train-labels-idx1-ubyte.gz.
#include <zlib.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/train/image_trainer.hpp"

namespace kiln::cli {

namespace fs = std::filesystem;

namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};

// The whole file, decompressed when it is gzip (gzread reads plain files too).
std::vector<uint8_t> read_all(const fs::path& path) {
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  KILN_CHECK(file != nullptr, "{}: cannot open", path.string());
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> chunk(1 << 20);
  int got = 0;
  while ((got = gzread(file.get(), chunk.data(), static_cast<unsigned>(chunk.size()))) > 0)
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + got);
  KILN_CHECK(got == 0, "{}: corrupt or truncated compressed data", path.string());
  return bytes;
}

uint32_t big_endian(const std::vector<uint8_t>& b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) | b[at + 3];
}

fs::path existing(const std::string& base) {
  for (const std::string& candidate : {base + ".gz", base})
    if (fs::exists(candidate)) return candidate;
  fail("{}(.gz): no such file", base);
}

}  // namespace

train::ImageData load_image_set(const std::string& spec) {
  const fs::path images_path = existing(spec + "-images-idx3-ubyte"), labels_path = existing(spec + "-labels-idx1-ubyte");
  const std::vector<uint8_t> images = read_all(images_path), labels = read_all(labels_path);
  KILN_CHECK(images.size() >= 16 && big_endian(images, 0) == 0x00000803, "{}: not an IDX image file (magic 0x803)",
             images_path.string());
  KILN_CHECK(labels.size() >= 8 && big_endian(labels, 0) == 0x00000801, "{}: not an IDX label file (magic 0x801)",
             labels_path.string());
  const int64_t n = big_endian(images, 4), h = big_endian(images, 8), w = big_endian(images, 12);
  KILN_CHECK(static_cast<int64_t>(images.size()) == 16 + n * h * w, "{}: {} bytes, the header promises {} images of {}×{}",
             images_path.string(), images.size(), n, h, w);
  const int64_t m = big_endian(labels, 4);
  KILN_CHECK(static_cast<int64_t>(labels.size()) == 8 + m, "{}: truncated ({} labels promised)", labels_path.string(), m);
  KILN_CHECK(m == n, "{} has {} labels for {} images in {}", labels_path.string(), m, n, images_path.string());
  train::ImageData data;
  data.images = Tensor::empty({n, 1, h, w}, DType::u8);
  std::copy(images.begin() + 16, images.end(), data.images.data<uint8_t>());
  data.labels = Tensor::empty({n}, DType::i64);
  for (int64_t i = 0; i < n; ++i) {
    data.labels.data<int64_t>()[i] = labels[8 + i];
    data.classes = std::max<int64_t>(data.classes, labels[8 + i] + 1);
  }
  return data;
}

}  // namespace kiln::cli
