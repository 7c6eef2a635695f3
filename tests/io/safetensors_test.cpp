// safetensors: a round trip keeps every dtype, shape and metadata; corrupt
// or truncated files, mutated thousands of ways, are one kiln::Error each and
// never a crash or an out-of-bounds read (the sanitizer build runs this too).
#include "kiln/io/safetensors.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "kiln/base/philox.hpp"

namespace kiln::io {
namespace {

namespace fs = std::filesystem;

std::vector<std::byte> file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

fs::path sample_file() {
  const fs::path path = fs::temp_directory_path() / ("kiln_safetensors_" + std::to_string(::getpid()) + ".safetensors");
  TensorMap tensors;
  tensors["model.embed_tokens.weight"] = Tensor::from<float>({1.5f, -2, 3, 4, 5, 6}, {2, 3});
  tensors["lm_head.bias"] = Tensor::from<double>({0.25}, {1});
  tensors["half"] = Tensor::from<float>({1, 2, 3, 4}, {4}).to(DType::bf16);
  tensors["ids"] = Tensor::from<int64_t>({7, 8, 9}, {3});
  tensors["mask"] = Tensor::from<uint8_t>({1, 0}, {2});
  tensors["scalar"] = Tensor::scalar(3.0);
  tensors["empty"] = Tensor::zeros({0, 4});
  save_safetensors(path, tensors, {{"format", "pt"}});
  return path;
}

TEST(Safetensors, RoundTripKeepsEverything) {
  const fs::path path = sample_file();
  const SafetensorsFile file = load_safetensors(path);
  EXPECT_EQ(file.metadata.at("format"), "pt");
  EXPECT_EQ(file.tensors.size(), 7u);
  EXPECT_EQ(file.tensors.at("model.embed_tokens.weight").to_vector<float>(), (std::vector<float>{1.5f, -2, 3, 4, 5, 6}));
  EXPECT_EQ(file.tensors.at("half").dtype(), DType::bf16);
  EXPECT_EQ(file.tensors.at("half").to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(file.tensors.at("ids").to_vector<int64_t>(), (std::vector<int64_t>{7, 8, 9}));
  EXPECT_EQ(file.tensors.at("scalar").shape(), Shape{});
  EXPECT_EQ(file.tensors.at("empty").shape(), (Shape{0, 4}));
  fs::remove(path);
}

TEST(Safetensors, CorruptFilesAreCleanErrors) {
  const fs::path path = sample_file();
  const std::vector<std::byte> good = file_bytes(path);
  fs::remove(path);
  int accepted = 0, rejected = 0;
  auto attempt = [&](const std::vector<std::byte>& bytes) {
    try {
      parse_safetensors(bytes, "mutant");
      ++accepted;
    } catch (const Error&) {
      ++rejected;
    }
  };
  for (size_t length = 0; length < good.size(); ++length)  // every truncation
    attempt(std::vector<std::byte>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(length)));
  uint64_t header = 0;
  std::memcpy(&header, good.data(), 8);
  for (uint64_t bogus : {uint64_t{0}, uint64_t{1}, header - 1, header + 1, uint64_t{1} << 40, ~uint64_t{0}}) {
    std::vector<std::byte> bytes = good;
    std::memcpy(bytes.data(), &bogus, 8);
    attempt(bytes);
  }
  for (uint64_t trial = 0; trial < 4000; ++trial) {  // random byte flips, mostly in the JSON header
    std::vector<std::byte> bytes = good;
    const auto bits = philox_block({42, 0}, trial);
    const int flips = 1 + static_cast<int>(bits[0] % 4);
    for (int f = 0; f < flips; ++f) {
      const auto more = philox_block({42, 1 + static_cast<uint64_t>(f)}, trial);
      const size_t at = more[0] % (bits[1] % 2 == 0 ? 8 + header : bytes.size());
      bytes[at] = static_cast<std::byte>(more[1] & 0xff);
    }
    attempt(bytes);
  }
  const char* hostile[] = {
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,99999]}})",
      R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
      R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}})",
      R"({"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}})",
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})",
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
      R"({"a":{"dtype":"F32","shape":"x","data_offsets":[0,4]}})",
      R"({"a":[1,2,3]})",
      R"([1,2])",
      R"({"__metadata__":{"k":5}})",
  };
  for (const char* json : hostile) {
    std::vector<std::byte> bytes(8 + std::strlen(json) + 16);
    const uint64_t length = std::strlen(json);
    std::memcpy(bytes.data(), &length, 8);
    std::memcpy(bytes.data() + 8, json, length);
    EXPECT_THROW(parse_safetensors(bytes, "hostile"), Error) << json;
  }
  EXPECT_GT(rejected, 1000);
  std::printf("mutants: %d rejected with an error, %d still valid files\n", rejected, accepted);
}

TEST(Safetensors, MissingFileNamesThePath) {
  try {
    load_safetensors("/nonexistent/model.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.safetensors"), std::string::npos);
  }
}

}  // namespace
}  // namespace kiln::io
