#include "kiln/models/ngram/vocabulary.hpp"

namespace kiln::ngram {

Vocabulary::Vocabulary() {
  for (const char* special : {"<unk>", "<s>", "</s>"}) add(special);
}

WordId Vocabulary::add(std::string_view word) {
  if (auto it = ids_.find(word); it != ids_.end()) return it->second;
  const auto id = static_cast<WordId>(words_.size());
  words_.emplace_back(word);
  ids_.emplace(std::string(word), id);
  return id;
}

std::optional<WordId> Vocabulary::find(std::string_view word) const {
  if (auto it = ids_.find(word); it != ids_.end()) return it->second;
  return std::nullopt;
}

WordId Vocabulary::id_or_unk(std::string_view word) const { return find(word).value_or(kUnk); }

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  split_words(line, words);
  return words;
}

void split_words(std::string_view line, std::vector<std::string_view>& words) {
  words.clear();
  size_t i = 0;
  auto separator = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\0' || c == '\n'; };
  while (i < line.size()) {
    while (i < line.size() && separator(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !separator(line[i])) ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
}

bool valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    int length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    uint32_t code = length == 1 ? c : c & (0x7f >> length);
    for (int k = 1; k < length; ++k) {
      const auto d = static_cast<unsigned char>(text[i + k]);
      if ((d >> 6) != 0x2) return false;
      code = (code << 6) | (d & 0x3f);
    }
    const bool overlong = (length == 2 && code < 0x80) || (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
    if (overlong || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += length;
  }
  return true;
}

}  // namespace kiln::ngram
