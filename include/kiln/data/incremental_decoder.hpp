#pragma once
// The text of a growing id sequence, id by id (streaming generated text).
// Decoding the whole sequence again for every new id costs time that grows
// with its length; this decodes only a short window of the last ids, the
// way Hugging Face's text streamers do: the text of the window with and
// without the new id, and the difference is what the id adds. A window is
// needed, not the new id alone, because a piece's text depends on its
// neighbours (SentencePiece drops the leading space of a sequence's first
// piece; byte pieces make up a character only together).
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/data/subword.hpp"

namespace kiln::data {

class IncrementalDecoder {
 public:
  // `tokenizer` must outlive the decoder.
  IncrementalDecoder(const Tokenizer& tokenizer, std::vector<int32_t> prompt);

  // The prompt's text.
  const std::string& prompt_text() const { return prompt_text_; }
  // The text `id` adds to what came before; empty while the id ends in the
  // middle of a character (its text then comes with a later id).
  std::string push(int32_t id);

 private:
  std::string window_text(size_t begin, size_t end) const;

  const Tokenizer& tokenizer_;
  std::vector<int32_t> ids_;
  std::string prompt_text_;
  size_t window_ = 0;   // the window's first id
  size_t written_ = 0;  // ids before this one have had their text returned
};

}  // namespace kiln::data
