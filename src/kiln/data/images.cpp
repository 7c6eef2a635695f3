#include "kiln/data/images.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>

#include "kiln/base/error.hpp"
#include "jpeg_huffman_check.hpp"

// stb_image compiled into this file alone (static functions, PNG and JPEG
// only), so nothing needs linking; its own code is not held to our warnings.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace kiln::data {

namespace fs = std::filesystem;

namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};

// The whole file, inflated when it is gzip (gzread passes other files through).
std::vector<uint8_t> read_maybe_gzip(const fs::path& path) {
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  KILN_CHECK(file != nullptr && fs::is_regular_file(path), "{}: cannot open", path.string());
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> chunk(1 << 20);
  int got = 0;
  while ((got = gzread(file.get(), chunk.data(), static_cast<unsigned>(chunk.size()))) > 0)
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + got);
  // A stream cut short is not fatal to gzread (Z_BUF_ERROR): check the state too.
  int code = Z_OK;
  const char* reason = gzerror(file.get(), &code);
  KILN_CHECK(got == 0 && code == Z_OK, "{}: truncated or corrupt gzip data ({})", path.string(), reason);
  return bytes;
}

std::vector<uint8_t> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "{}: cannot open", path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint32_t big_endian(const uint8_t* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

fs::path existing(const std::string& base) {
  for (const std::string& candidate : {base + ".gz", base})
    if (fs::exists(candidate)) return candidate;
  fail("{}(.gz): no such file", base);
}

bool is_image_name(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char c) { return std::tolower(c); });
  return extension == ".png" || extension == ".jpg" || extension == ".jpeg";
}

bool hidden(const fs::path& path) { return path.filename().string().starts_with('.'); }

}  // namespace

Tensor read_idx(const fs::path& path) {
  const std::vector<uint8_t> bytes = read_maybe_gzip(path);
  KILN_CHECK(bytes.size() >= 4 && bytes[0] == 0 && bytes[1] == 0, "{}: not an IDX file (bad magic number)", path.string());
  KILN_CHECK(bytes[2] == 0x08, "{}: IDX element type 0x{:02x}; only unsigned bytes (0x08) are supported", path.string(),
             bytes[2]);
  const size_t rank = bytes[3], header = 4 + 4 * rank;
  KILN_CHECK(rank >= 1 && bytes.size() >= header, "{}: truncated IDX header (rank {}, {} bytes)", path.string(), rank,
             bytes.size());
  Shape shape;
  uint64_t elements = 1;
  constexpr uint64_t kMaxElements = uint64_t{1} << 40;
  for (size_t d = 0; d < rank; ++d) {
    shape.push_back(big_endian(&bytes[4 + 4 * d]));
    const auto size = static_cast<uint64_t>(shape.back());
    // Every dimension at least 1, and the product checked before it can overflow.
    KILN_CHECK(size >= 1, "{}: IDX dimension {} is 0 (an empty set)", path.string(), d);
    KILN_CHECK(elements <= kMaxElements / size, "{}: IDX header promises an absurd size", path.string());
    elements *= size;
  }
  const uint64_t data = bytes.size() - header;
  KILN_CHECK(data >= elements, "{}: truncated: {} data bytes, the header promises {}", path.string(), data, elements);
  KILN_CHECK(data == elements, "{}: {} bytes after the {} the header promises", path.string(), data - elements, elements);
  Tensor out = Tensor::empty(shape, DType::u8);
  std::copy(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end(), out.data<uint8_t>());
  return out;
}

ImageSet read_idx_pair(const fs::path& images, const fs::path& labels) {
  ImageSet set;
  set.images = read_idx(images);
  KILN_CHECK(set.images.dim() == 3, "{}: IDX images must have 3 dimensions (N, H, W), found {}", images.string(),
             set.images.describe());
  const Tensor raw_labels = read_idx(labels);
  KILN_CHECK(raw_labels.dim() == 1, "{}: IDX labels must have 1 dimension, found {}", labels.string(),
             raw_labels.describe());
  const int64_t n = set.images.size(0);
  KILN_CHECK(raw_labels.size(0) == n, "{}: {} labels for the {} images of {}", labels.string(), raw_labels.size(0), n,
             images.string());
  set.labels = Tensor::empty({n}, DType::i64);
  const uint8_t* source = raw_labels.data<uint8_t>();
  int64_t* target = set.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    target[i] = source[i];
    set.classes = std::max<int64_t>(set.classes, source[i] + 1);
  }
  return set;
}

ImageSet read_idx_set(const std::string& prefix) {
  const fs::path images = existing(prefix + "-images-idx3-ubyte");  // looked up first, so reported first
  return read_idx_pair(images, existing(prefix + "-labels-idx1-ubyte"));
}

namespace {

using DecodedImage = std::unique_ptr<stbi_uc, void (*)(void*)>;

// `channels` = 0 keeps the file's own count (returned in c).
DecodedImage decode_image(const fs::path& file, int channels, int& w, int& h, int& c) {
  const std::vector<uint8_t> encoded = read_file(file);
  KILN_CHECK(encoded.size() <= static_cast<size_t>(std::numeric_limits<int>::max()), "{}: image file too large",
             file.string());
  if (const auto defect = jpeg_huffman_defect(encoded)) fail("{}: cannot decode image ({})", file.string(), *defect);
  DecodedImage decoded(
      stbi_load_from_memory(encoded.data(), static_cast<int>(encoded.size()), &w, &h, &c, channels), stbi_image_free);
  // stb_image gives no reason for some failures (a chunk length past 2^31, say).
  const char* reason = decoded == nullptr ? stbi_failure_reason() : nullptr;
  KILN_CHECK(decoded != nullptr, "{}: cannot decode image ({})", file.string(), reason ? reason : "no reason given");
  if (channels > 0) c = channels;
  return decoded;
}

}  // namespace

ImageSet read_image_folder(const fs::path& root) {
  KILN_CHECK(fs::is_directory(root), "{}: not a folder", root.string());
  ImageSet set;
  std::vector<std::vector<fs::path>> files_per_class;
  std::vector<fs::path> class_dirs;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory() && !hidden(entry.path())) class_dirs.push_back(entry.path());
  std::sort(class_dirs.begin(), class_dirs.end());
  KILN_CHECK(!class_dirs.empty(), "{}: no class sub-folders", root.string());
  size_t total = 0;
  for (const fs::path& dir : class_dirs) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file() && !hidden(entry.path()) && is_image_name(entry.path())) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    // An empty class would get a label no example carries; say so rather than train on it.
    KILN_CHECK(!files.empty(), "{}: no .png, .jpg or .jpeg images", dir.string());
    total += files.size();
    set.class_names.push_back(dir.filename().string());
    files_per_class.push_back(std::move(files));
  }
  set.classes = static_cast<int64_t>(class_dirs.size());

  int height = 0, width = 0, channels = 0;
  fs::path first;
  std::vector<uint8_t> pixels;  // [N, C, H, W]
  std::vector<int64_t> labels;
  for (size_t label = 0; label < files_per_class.size(); ++label) {
    for (const fs::path& file : files_per_class[label]) {
      int w = 0, h = 0, c = 0;
      const DecodedImage decoded = decode_image(file, 0, w, h, c);
      if (first.empty()) {
        first = file, height = h, width = w, channels = c;
        pixels.reserve(total * static_cast<size_t>(h) * w * c);
      }
      KILN_CHECK(h == height && w == width && c == channels,
                 "{}: {}x{} image with {} channel(s), but {} is {}x{} with {}; an image folder needs one size",
                 file.string(), w, h, c, first.string(), width, height, channels);
      // Interleaved HWC as decoded → planar CHW, the layout the models take.
      const size_t plane = static_cast<size_t>(h) * w, start = pixels.size();
      pixels.resize(start + plane * c);
      for (size_t p = 0; p < plane; ++p)
        for (int k = 0; k < c; ++k) pixels[start + k * plane + p] = decoded.get()[p * c + k];
      labels.push_back(static_cast<int64_t>(label));
    }
  }
  const auto n = static_cast<int64_t>(labels.size());
  set.images = Tensor::from(pixels, {n, channels, height, width});
  set.labels = Tensor::from(labels, {n});
  return set;
}

Tensor read_image_file(const fs::path& path, int channels) {
  KILN_CHECK(channels >= 1 && channels <= 4, "an image has 1 to 4 channels, asked for {}", channels);
  KILN_CHECK(fs::is_regular_file(path), "{}: no such image file", path.string());
  int w = 0, h = 0, c = 0;
  const DecodedImage decoded = decode_image(path, channels, w, h, c);
  const size_t plane = static_cast<size_t>(h) * w;
  std::vector<uint8_t> pixels(plane * channels);
  for (size_t p = 0; p < plane; ++p)
    for (int k = 0; k < channels; ++k) pixels[k * plane + p] = decoded.get()[p * channels + k];
  return Tensor::from(pixels, {channels, h, w});
}

}  // namespace kiln::data
