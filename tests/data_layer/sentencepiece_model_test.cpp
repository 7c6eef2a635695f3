// Loading a SentencePiece tokenizer.model that kiln did not write: every
// defect is a one-line kiln::Error naming the file (findings of
// fuzz/sentencepiece_model_fuzz.cpp become cases here).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/data/subword.hpp"

namespace kiln::data {
namespace {

namespace fs = std::filesystem;

fs::path write_model(const std::string& name, const std::vector<uint8_t>& bytes) {
  const fs::path path = fs::temp_directory_path() / ("kiln_spm_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::string load_error(const fs::path& path) {
  try {
    Tokenizer::from_sentencepiece_file(path, "sentencepiece-unigram");
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a kiln::Error: ") + e.what();
  }
  return "accepted";
}

TEST(SentencePieceModel, PieceStartingWithNulIsAOneLineError) {
  // Found by the fuzzer: a unigram model whose second piece starts with a NUL byte, a
  // zero-length key to SentencePiece's trie builder, which threw Darts::Details::Exception
  // (an "internal error" line for the user).
  const fs::path path = write_model("empty_piece.model", {0x0a, 0x0e, 0x0a, 0x05, 0x3c, 0x75, 0x6e, 0x6b, 0x3e, 0x15, 0x00,
                                                          0x00, 0x00, 0x00, 0x18, 0x02, 0x0a, 0x0c, 0x0a, 0x03, 0x00, 0x8c,
                                                          0x04, 0x15, 0x34, 0x00, 0x00, 0x00, 0x18, 0x01, 0x12, 0x00});
  const std::string error = load_error(path);
  EXPECT_EQ(error.rfind(path.string() + ": not a SentencePiece model (", 0), 0u) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  fs::remove(path);
}

TEST(SentencePieceModel, BytesThatAreNoModelAreAOneLineError) {
  const fs::path path = write_model("junk.model", {'n', 'o', 't', ' ', 'a', ' ', 'm', 'o', 'd', 'e', 'l', 0x1b});
  const std::string error = load_error(path);
  EXPECT_EQ(error.rfind(path.string() + ": not a SentencePiece model (", 0), 0u) << error;
  fs::remove(path);
}

}  // namespace
}  // namespace kiln::data
