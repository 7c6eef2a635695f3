#pragma once
// ARPA text files as lmplz writes them and as KenLM's reader accepts them.
#include <cstdint>
#include <filesystem>
#include <istream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/io/atomic_file.hpp"
#include "kiln/models/ngram/model.hpp"

namespace kiln::ngram {

// Writes an ARPA file entry by entry, so that a model need not be held whole
// to be written: the header takes the number of entries per order, then
// entries come order by order. Atomic: nothing appears at `path` unless
// commit() is reached with every order complete.
class ArpaWriter {
 public:
  // `vocab`: id → word.
  ArpaWriter(const std::filesystem::path& path, const std::vector<std::string>& vocab, std::vector<uint64_t> counts);
  // log10_backoff is ignored on the highest order.
  void add(std::span<const WordId> ngram, float log10_prob, float log10_backoff);
  void commit();

 private:
  // A word's text inline when it fits (one cache line holds it: lines look
  // their words up in random order), else where it lies in long_words_.
  struct WordSlot {
    char text[15];
    uint8_t length;
  };
  struct LongWord {  // kept in a long word's slot.text, field by field
    uint64_t offset;
    uint32_t length;
  };
  static_assert(sizeof(WordSlot) == 16 && sizeof(WordSlot::text) >= sizeof(uint64_t) + sizeof(uint32_t));
  static constexpr uint8_t kLongWord = 0xff;
  static constexpr size_t kFlushBytes = size_t{1} << 20;

  void start_next_section();
  LongWord long_word(WordId id) const;
  char* reserve(size_t bytes);  // room for `bytes` more after used_
  void append(std::string_view text);
  void flush();

  std::filesystem::path path_;
  std::vector<uint64_t> counts_;
  io::AtomicFile file_;
  std::vector<WordSlot> slots_;  // by word id
  std::string long_words_;
  std::vector<char> buffer_;
  size_t used_ = 0;
  size_t order_ = 0;        // the order being written; 0 before the first entry
  uint64_t written_ = 0;    // entries of that order so far
};

// Atomic: the file appears complete or not at all.
void write_arpa(const BackoffModel& model, const std::filesystem::path& path);

// Receives an ARPA file while it is read, so that the file need not be held
// whole: the counts of \data\, every entry in file order (orders ascending),
// and after the unigrams the vocabulary (id → word; 0 <unk>, 1 <s>, 2 </s>,
// the rest in unigram order). add() returns false for an n-gram it already holds.
class ArpaSink {
 public:
  virtual ~ArpaSink() = default;
  virtual void begin(const std::vector<uint64_t>& counts) = 0;
  virtual bool add(int n, std::span<const WordId> ngram, float log10_prob, float log10_backoff) = 0;
  virtual void vocabulary(const std::vector<std::string>& vocab) = 0;
};

// Accepts comments before \data\, blank lines, entries in any order, a
// missing backoff column (0) and SRILM's −99 for <s>. Rejects wrong counts,
// missing sections, non-numeric fields, duplicate n-grams, positive log
// probabilities, backoffs on the highest order and trailing text after \end\,
// each as one error naming the file and line.
BackoffModel read_arpa(std::istream& in, const std::string& source);
BackoffModel read_arpa(const std::filesystem::path& path);
// The same checks, each entry handed to `sink` as it is read.
void read_arpa(std::istream& in, const std::string& source, ArpaSink& sink);
void read_arpa(const std::filesystem::path& path, ArpaSink& sink);

}  // namespace kiln::ngram
