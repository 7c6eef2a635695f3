// Streaming the text of generated ids: what the prompt's text and every
// push() return, joined, is the text of the whole sequence, for
// SentencePiece (leading spaces, pieces of any length) and for the bytes
// tokenizer (characters split over several ids).
#include "kiln/data/incremental_decoder.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "kiln/base/philox.hpp"

namespace kiln::data {
namespace {

namespace fs = std::filesystem;

std::string streamed(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, size_t prompt_length) {
  IncrementalDecoder decoder(tokenizer, std::vector<int32_t>(ids.begin(), ids.begin() + prompt_length));
  std::string text = decoder.prompt_text();
  for (size_t i = prompt_length; i < ids.size(); ++i) text += decoder.push(ids[i]);
  return text;
}

TEST(IncrementalDecoder, SentencePieceStreamEqualsDecodingTheWhole) {
  const fs::path folder = fs::temp_directory_path() / ("kiln_incremental_decoder_" + std::to_string(::getpid()));
  const Tokenizer sp = Tokenizer::train_sentencepiece(std::string(KILN_TEST_DATA_DIR) + "/text/kjv-train2000.txt",
                                                      folder, {"bpe", 320, 1});
  fs::remove_all(folder);
  const std::vector<int32_t> verse =
      sp.encode("And God said, Let there be light: and there was light. And God saw the light, that it was good.");
  for (size_t prompt_length : {size_t{1}, size_t{3}, size_t{10}})
    EXPECT_EQ(streamed(sp, verse, prompt_length), sp.decode(verse)) << "prompt of " << prompt_length;
  // Ids in any order, as an untrained model would generate them.
  std::vector<int32_t> random = {verse[0]};
  for (uint64_t i = 0; i < 200; ++i)
    random.push_back(static_cast<int32_t>(philox_uniform({5, 0}, i) * static_cast<double>(sp.vocab_size() - 1)));
  EXPECT_EQ(streamed(sp, random, 1), sp.decode(random));
}

TEST(IncrementalDecoder, BytesStreamKeepsMultiByteCharacters) {
  const Tokenizer bytes = Tokenizer::bytes();
  const std::vector<int32_t> ids = bytes.encode("In the beginning — 太初有道, é.");
  EXPECT_EQ(streamed(bytes, ids, 2), bytes.decode(ids));
}

}  // namespace
}  // namespace kiln::data
