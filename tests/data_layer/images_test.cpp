// Image readers: IDX files (plain and gzip) and image folders, with the
// one-line errors for wrong magic, truncation, mismatched counts, mixed
// sizes and undecodable images; Fashion-MNIST's test set when installed.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>

#include <unistd.h>

#include "kiln/base/error.hpp"
#include "kiln/data/images.hpp"
#include "kiln/io/png.hpp"
#include "support/error_text.hpp"

// A JPEG writer for the test's own valid files (baseline, with DHT tables).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace kiln::data {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

void put_u32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

Bytes idx(const std::vector<uint32_t>& dims, const Bytes& data) {
  Bytes out = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) put_u32(out, d);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_bytes(const fs::path& path, const Bytes& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

void write_gzip(const fs::path& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

Bytes read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// An 8-bit greyscale PNG (kiln's writer makes RGB only), for the channel check.
void write_gray_png(const fs::path& path, int width, int height, uint8_t value) {
  Bytes raw;
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);  // filter: none
    raw.insert(raw.end(), width, value);
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  Bytes packed(packed_size);
  ASSERT_EQ(compress(packed.data(), &packed_size, raw.data(), static_cast<uLong>(raw.size())), Z_OK);
  packed.resize(packed_size);
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  const auto chunk = [&](const char* type, const Bytes& body) {
    put_u32(png, static_cast<uint32_t>(body.size()));
    Bytes typed(type, type + 4);
    typed.insert(typed.end(), body.begin(), body.end());
    png.insert(png.end(), typed.begin(), typed.end());
    put_u32(png, static_cast<uint32_t>(crc32(0, typed.data(), static_cast<uInt>(typed.size()))));
  };
  Bytes header;
  put_u32(header, width);
  put_u32(header, height);
  header.insert(header.end(), {8, 0, 0, 0, 0});  // 8 bits, greyscale, deflate, no filter, no interlace
  chunk("IHDR", header);
  chunk("IDAT", packed);
  chunk("IEND", {});
  write_bytes(path, png);
}

void write_rgb_png(const fs::path& path, int width, int height, uint8_t seed) {
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(seed + i);
  io::write_png(path, width, height, rgb);
}

using kiln::testing::error_of;

// The message is one line, names `file` and says `what`.
void expect_error(const std::function<void()>& f, const fs::path& file, const std::string& what) {
  const std::string message = error_of(f);
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find(what), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

class Images : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_images_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

const Bytes kPixels = [] {
  Bytes p(3 * 2 * 4);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(10 * i);
  return p;
}();

TEST_F(Images, IdxPlainAndGzip) {
  write_bytes(dir_ / "a-images-idx3-ubyte", idx({3, 2, 4}, kPixels));
  write_bytes(dir_ / "a-labels-idx1-ubyte", idx({3}, {7, 0, 2}));
  write_gzip(dir_ / "b-images-idx3-ubyte.gz", idx({3, 2, 4}, kPixels));
  write_gzip(dir_ / "b-labels-idx1-ubyte.gz", idx({3}, {7, 0, 2}));
  for (const char* prefix : {"a", "b"}) {
    const ImageSet set = read_idx_set((dir_ / prefix).string());
    EXPECT_EQ(set.images.shape(), (Shape{3, 2, 4}));
    EXPECT_EQ(set.images.dtype(), DType::u8);
    EXPECT_EQ(set.images.to_vector<uint8_t>(), kPixels);
    EXPECT_EQ(set.labels.dtype(), DType::i64);
    EXPECT_EQ(set.labels.to_vector<int64_t>(), (std::vector<int64_t>{7, 0, 2}));
    EXPECT_EQ(set.classes, 8);
    EXPECT_TRUE(set.class_names.empty());
  }
  expect_error([&] { read_idx_set((dir_ / "c").string()); }, dir_ / "c-images-idx3-ubyte", "no such file");
}

TEST_F(Images, IdxErrorsNameTheFile) {
  const fs::path images = dir_ / "i.idx", labels = dir_ / "l.idx";
  write_bytes(labels, idx({3}, {1, 2, 3}));

  Bytes bad_magic = idx({3, 2, 4}, kPixels);
  bad_magic[0] = 0x1F;
  write_bytes(images, bad_magic);
  expect_error([&] { read_idx(images); }, images, "not an IDX file");
  Bytes int_type = idx({3, 2, 4}, kPixels);
  int_type[2] = 0x0C;
  write_bytes(images, int_type);
  expect_error([&] { read_idx(images); }, images, "only unsigned bytes");

  Bytes truncated = idx({3, 2, 4}, kPixels);
  truncated.pop_back();
  write_bytes(images, truncated);
  expect_error([&] { read_idx(images); }, images, "truncated");
  write_bytes(images, Bytes(truncated.begin(), truncated.begin() + 10));
  expect_error([&] { read_idx(images); }, images, "truncated IDX header");
  Bytes longer = idx({3, 2, 4}, kPixels);
  longer.push_back(0);
  write_bytes(images, longer);
  expect_error([&] { read_idx(images); }, images, "1 bytes after");
  // Found by idx_fuzz: a zero dimension let the others promise 2^64 elements (signed overflow in the strides).
  write_bytes(images, idx({0, 0xFFFFFFFFu, 0xFFFFFFFFu}, {}));
  expect_error([&] { read_idx(images); }, images, "dimension 0 is 0");
  write_bytes(images, idx({0x10000, 0x10000, 0x10000}, {}));
  expect_error([&] { read_idx(images); }, images, "absurd size");

  // A gzip stream cut short, and one with a damaged body.
  const fs::path gz = dir_ / "i.idx.gz";
  Bytes big(5000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>((i * 7919) % 251);
  write_gzip(gz, idx({5000}, big));
  const Bytes whole = read_bytes(gz);
  write_bytes(gz, Bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(whole.size() / 2)));
  expect_error([&] { read_idx(gz); }, gz, "truncated or corrupt gzip");
  Bytes damaged = whole;
  for (size_t i = 20; i < 40; ++i) damaged[i] ^= 0x5A;
  write_bytes(gz, damaged);
  expect_error([&] { read_idx(gz); }, gz, "gzip");

  write_bytes(images, idx({3, 2, 4}, kPixels));
  write_bytes(labels, idx({2}, {1, 2}));
  expect_error([&] { read_idx_pair(images, labels); }, labels, "2 labels for the 3 images");
  expect_error([&] { read_idx_pair(labels, labels); }, labels, "3 dimensions");
  expect_error([&] { read_idx_pair(images, images); }, images, "1 dimension");
}

TEST_F(Images, ImageFolderReadsClassesInOrder) {
  for (const char* c : {"cat", "dog"}) fs::create_directories(dir_ / "set" / c);
  write_rgb_png(dir_ / "set" / "dog" / "b.png", 3, 2, 100);
  write_rgb_png(dir_ / "set" / "dog" / "a.PNG", 3, 2, 50);
  write_rgb_png(dir_ / "set" / "cat" / "z.png", 3, 2, 0);
  std::ofstream(dir_ / "set" / "cat" / "notes.txt") << "not an image";
  std::ofstream(dir_ / "set" / "README") << "ignored too";
  const ImageSet set = read_image_folder(dir_ / "set");
  EXPECT_EQ(set.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(set.classes, 2);
  EXPECT_EQ(set.images.shape(), (Shape{3, 3, 2, 3}));
  EXPECT_EQ(set.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 1}));
  // dog/a.PNG, seed 50: pixel (y=1, x=2) of channel 1 (green) was written at byte (1*3+2)*3+1.
  const std::vector<uint8_t> pixels = set.images.to_vector<uint8_t>();
  EXPECT_EQ(pixels[1 * 18 + 1 * 6 + 1 * 3 + 2], static_cast<uint8_t>(50 + (1 * 3 + 2) * 3 + 1));

  fs::create_directories(dir_ / "gray" / "only");
  write_gray_png(dir_ / "gray" / "only" / "g.png", 4, 5, 77);
  const ImageSet gray = read_image_folder(dir_ / "gray");
  EXPECT_EQ(gray.images.shape(), (Shape{1, 1, 5, 4}));
  EXPECT_EQ(gray.images.to_vector<uint8_t>(), std::vector<uint8_t>(20, 77));
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<Bytes*>(context);
  out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

TEST_F(Images, ValidJpegsStillDecode) {
  // A 16×8 RGB gradient as stb_image_write's baseline JPEG (quality 95): the
  // Huffman check must let real tables through.
  std::vector<uint8_t> rgb(16 * 8 * 3);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 16; ++x)
      for (int c = 0; c < 3; ++c) rgb[(y * 16 + x) * 3 + c] = static_cast<uint8_t>(c == 0 ? x * 16 : c == 1 ? y * 32 : 128);
  Bytes jpeg;
  ASSERT_NE(stbi_write_jpg_to_func(append_bytes, &jpeg, 16, 8, 3, rgb.data(), 95), 0);
  fs::create_directories(dir_ / "jpeg" / "one");
  write_bytes(dir_ / "jpeg" / "one" / "a.jpg", jpeg);
  const ImageSet set = read_image_folder(dir_ / "jpeg");
  EXPECT_EQ(set.images.shape(), (Shape{1, 3, 8, 16}));
  const std::vector<uint8_t> pixels = set.images.to_vector<uint8_t>();
  for (int x = 0; x < 16; ++x) EXPECT_NEAR(pixels[3 * 16 + x], x * 16, 12) << "red at (3, " << x << ")";
  const Tensor grey = read_image_file(dir_ / "jpeg" / "one" / "a.jpg", 1);
  EXPECT_EQ(grey.shape(), (Shape{1, 8, 16}));
}

TEST_F(Images, ImageFolderErrorsNameTheFile) {
  const fs::path root = dir_ / "set", a = root / "a", b = root / "b";
  fs::create_directories(a);
  fs::create_directories(b);
  write_rgb_png(a / "1.png", 4, 4, 0);
  expect_error([&] { read_image_folder(root); }, b, "no .png, .jpg or .jpeg images");

  write_rgb_png(b / "2.png", 4, 3, 0);
  expect_error([&] { read_image_folder(root); }, b / "2.png", "4x3 image with 3 channel(s)");
  write_gray_png(b / "2.png", 4, 4, 9);
  expect_error([&] { read_image_folder(root); }, b / "2.png", "with 1 channel(s)");

  write_rgb_png(b / "2.png", 4, 4, 0);
  const Bytes png = read_bytes(b / "2.png");
  write_bytes(b / "2.png", Bytes(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2)));
  expect_error([&] { read_image_folder(root); }, b / "2.png", "cannot decode image");
  // An IDAT chunk claiming 2^31 bytes: stb_image fails without a reason.
  Bytes huge_chunk = png;
  for (size_t i = 4; i + 4 <= huge_chunk.size(); ++i)
    if (std::equal(huge_chunk.begin() + static_cast<std::ptrdiff_t>(i),
                   huge_chunk.begin() + static_cast<std::ptrdiff_t>(i + 4), "IDAT")) {
      huge_chunk[i - 4] = 0x80, huge_chunk[i - 3] = huge_chunk[i - 2] = huge_chunk[i - 1] = 0;
      break;
    }
  write_bytes(b / "2.png", huge_chunk);
  expect_error([&] { read_image_folder(root); }, b / "2.png", "cannot decode image");
  fs::remove(b / "2.png");
  write_bytes(b / "3.jpg", {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 2, 3});
  expect_error([&] { read_image_folder(root); }, b / "3.jpg", "cannot decode image");
  write_bytes(b / "3.jpg", {'n', 'o', 't', ' ', 'j', 'p', 'e', 'g'});
  expect_error([&] { read_image_folder(root); }, b / "3.jpg", "cannot decode image");

  // Found by the fuzzer: a DHT segment declaring 268 codes. Debian's stb_image 2.27
  // writes one entry per code into a 257-entry table (UBSan: index out of bounds).
  write_bytes(b / "3.jpg", {0xFF, 0xD8, 0xFF, 0xC4, 0xFF, 0xC4, 0x00, 0x00, 0x00, 0x83, 0x00, 0x00, 0x89});
  expect_error([&] { read_image_folder(root); }, b / "3.jpg",
               "cannot decode image (corrupt JPEG: a Huffman table at byte 6 declares 268 codes, more than 256)");
  expect_error([&] { read_image_file(b / "3.jpg", 1); }, b / "3.jpg", "more than 256");
  // The same after fill bytes before the start-of-image marker, which stb_image skips.
  write_bytes(b / "3.jpg", {0xFF, 0xFF, 0xFF, 0xD8, 0xFF, 0xC4, 0xFF, 0xC4, 0x00, 0x00, 0x00, 0x83, 0x00, 0x00, 0x89});
  expect_error([&] { read_image_folder(root); }, b / "3.jpg", "at byte 8 declares 268 codes");

  expect_error([&] { read_image_folder(dir_ / "absent"); }, dir_ / "absent", "not a folder");
  fs::create_directories(dir_ / "empty");
  expect_error([&] { read_image_folder(dir_ / "empty"); }, dir_ / "empty", "no class sub-folders");
}

TEST(FashionMnist, TestSetShapeAndBalance) {
  const fs::path dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir / "t10k-images-idx3-ubyte.gz") && !fs::exists(dir / "t10k-images-idx3-ubyte"))
    GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  const ImageSet set = read_idx_set((dir / "t10k").string());
  EXPECT_EQ(set.images.shape(), (Shape{10000, 28, 28}));
  EXPECT_EQ(set.classes, 10);
  std::vector<int64_t> per_class(10, 0);
  for (int64_t label : set.labels.to_vector<int64_t>()) ++per_class.at(static_cast<size_t>(label));
  EXPECT_EQ(per_class, std::vector<int64_t>(10, 1000));
}

}  // namespace
}  // namespace kiln::data
