#pragma once
// BERT's WordPiece tokenizer (google-research/bert tokenization.py) and a
// small vocabulary learner.
//
// Text → basic tokens: drop NUL, U+FFFD and control characters (Cc, Cf; tab,
// CR, LF count as spaces), map whitespace (Zs) to spaces, put spaces around
// CJK ideographs, split on whitespace, optionally lowercase and strip accents,
// split off every punctuation character (ASCII symbols and Unicode P*).
// Basic token → pieces: greedy longest match first, non-initial pieces carry
// "##"; a word with no full segmentation, or longer than max_chars_per_word
// code points, becomes a single [UNK].
//
// Unicode facts come from compact tables in wordpiece.cpp generated from
// Unicode 14.0 (no ICU). Accent stripping (NFD, then drop Mn) decomposes
// precomposed Latin, Greek, Cyrillic, letterlike (U+2100-214F), kana and
// Hangul characters; precomposed characters of other scripts (Indic nukta
// letters, CJK compatibility ideographs, Hebrew presentation forms) are kept
// as they are, though free-standing combining marks of any script are dropped.
// Invalid UTF-8 bytes are read as U+FFFD and therefore dropped.
//
// encode() does not add [CLS]/[SEP]; special tokens written in the text are
// ordinary text (split at the brackets), as in the original BasicTokenizer.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kiln::data {

struct WordPieceOptions {
  bool lowercase = true;                // BERT "uncased"
  std::optional<bool> strip_accents;    // unset: same as lowercase (BERT's behaviour)
  bool split_cjk = true;                // each CJK ideograph is its own basic token
  // Hugging Face's BertTokenizer uses 100; google-research/bert uses 200.
  int max_chars_per_word = 100;
};

class WordPieceTokenizer {
 public:
  // id = position in `vocab`. The vocabulary must hold [CLS], [SEP], [MASK]
  // and [UNK]; [PAD] is optional. `origin` names the source in errors.
  explicit WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options = {},
                              std::string origin = "wordpiece vocabulary");
  // vocab.txt: one token per line, id = 0-based line number, surrounding whitespace ignored.
  static WordPieceTokenizer load(const std::filesystem::path& vocab_txt, WordPieceOptions options = {});
  void save(const std::filesystem::path& vocab_txt) const;

  std::vector<int32_t> encode(std::string_view text) const;
  std::vector<std::string> tokens(std::string_view text) const;
  // Pieces joined by spaces, "##" pieces glued to the previous one.
  std::string decode(std::span<const int32_t> ids) const;

  std::vector<std::string> basic_tokens(std::string_view text) const;      // BasicTokenizer alone
  std::vector<std::string> word_pieces(std::string_view basic_token) const;  // WordpieceTokenizer alone

  std::optional<int32_t> find(std::string_view token) const;
  const std::string& token(int32_t id) const;
  int64_t vocab_size() const { return static_cast<int64_t>(vocab_.size()); }
  const std::vector<std::string>& vocab() const { return vocab_; }
  const WordPieceOptions& options() const { return options_; }
  int32_t cls_id() const { return cls_; }
  int32_t sep_id() const { return sep_; }
  int32_t mask_id() const { return mask_; }
  int32_t unk_id() const { return unk_; }
  std::optional<int32_t> pad_id() const { return pad_; }

 private:
  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int32_t> ids_;
  WordPieceOptions options_;
  int32_t cls_ = 0, sep_ = 0, mask_ = 0, unk_ = 0;
  std::optional<int32_t> pad_;
};

enum class MergeScore {
  likelihood,  // count(ab) / (count(a)·count(b)): rare pairs first (the WordPiece description)
  frequency,   // count(ab): frequent pairs first (BPE; what Hugging Face's WordPiece trainer does)
};

struct WordPieceVocabOptions {
  WordPieceOptions tokenizer;  // basic tokenisation applied to the corpus
  MergeScore score = MergeScore::likelihood;
  std::vector<std::string> special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  int64_t min_word_count = 1;  // rarer words are ignored
};

// Learns a WordPiece vocabulary from lines of text: count basic tokens (words
// longer than max_chars_per_word are skipped), split every word into its
// first character and "##"-prefixed continuation characters, then repeatedly
// merge the adjacent pair with the highest score
//     count(ab) / (count(a) · count(b))        (counts weighted by word frequency)
// — the likelihood-style criterion of the WordPiece description in the
// Hugging Face course (Hugging Face's tokenizers crate itself trains WordPiece
// with plain most-frequent-pair BPE). Ties go to the more frequent pair, then
// to the lexicographically smaller one, so the result is deterministic.
// Result: special tokens, every character seen (sorted, so every corpus word
// stays encodable without [UNK] — the vocabulary can exceed vocab_size when
// the corpus has more characters than that), then merges in the order learnt.
std::vector<std::string> build_wordpiece_vocab(std::span<const std::string> lines, int64_t vocab_size,
                                               const WordPieceVocabOptions& options = {});

// Writes one token per line through an atomic file.
void write_wordpiece_vocab(const std::filesystem::path& vocab_txt, std::span<const std::string> vocab);

}  // namespace kiln::data
