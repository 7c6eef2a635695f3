#pragma once
// Word ↔ id for n-gram models, numbered as KenLM's lmplz numbers them:
// <unk> = 0, <s> = 1, </s> = 2, then words by first appearance.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kiln::ngram {

using WordId = uint32_t;
inline constexpr WordId kUnk = 0, kBos = 1, kEos = 2;

class Vocabulary {
 public:
  Vocabulary();
  WordId add(std::string_view word);  // existing id or a new one
  std::optional<WordId> find(std::string_view word) const;
  WordId id_or_unk(std::string_view word) const;
  const std::string& word(WordId id) const { return words_[id]; }
  size_t size() const { return words_.size(); }
  const std::vector<std::string>& words() const { return words_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::string> words_;
  std::unordered_map<std::string, WordId, Hash, std::equal_to<>> ids_;
};

// Splits a line on spaces, tabs, '\r' and '\0' (KenLM's separators).
std::vector<std::string_view> split_words(std::string_view line);
void split_words(std::string_view line, std::vector<std::string_view>& words);  // into words, cleared first

// Whether `text` is well-formed UTF-8.
bool valid_utf8(std::string_view text);

}  // namespace kiln::ngram
