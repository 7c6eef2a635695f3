#include "kiln/data/incremental_decoder.hpp"

#include <algorithm>

namespace kiln::data {

namespace {

// Ids of context kept before the unwritten ones: enough for a piece's
// leading space and for the bytes of one UTF-8 character.
constexpr size_t kContext = 6;

// SentencePiece decodes an incomplete UTF-8 sequence as U+FFFD; its bytes
// are then still to come.
bool ends_in_replacement_character(const std::string& text) {
  static const std::string replacement = "\xEF\xBF\xBD";
  return text.size() >= replacement.size() && text.compare(text.size() - replacement.size(), replacement.size(),
                                                           replacement) == 0;
}

}  // namespace

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, std::vector<int32_t> prompt)
    : tokenizer_(tokenizer), ids_(std::move(prompt)) {
  prompt_text_ = tokenizer_.decode(ids_);
  written_ = ids_.size();
  window_ = written_ - std::min(written_, kContext);
}

std::string IncrementalDecoder::window_text(size_t begin, size_t end) const {
  return tokenizer_.decode(std::vector<int32_t>(ids_.begin() + static_cast<std::ptrdiff_t>(begin),
                                                ids_.begin() + static_cast<std::ptrdiff_t>(end)));
}

std::string IncrementalDecoder::push(int32_t id) {
  ids_.push_back(id);
  const std::string before = window_text(window_, written_);
  const std::string after = window_text(window_, ids_.size());
  if (after.size() <= before.size() || after.compare(0, before.size(), before) != 0 ||
      ends_in_replacement_character(after))
    return "";
  written_ = ids_.size();
  window_ = written_ - std::min(written_, kContext);
  return after.substr(before.size());
}

}  // namespace kiln::data
