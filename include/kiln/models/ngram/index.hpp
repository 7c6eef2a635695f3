#pragma once
// The queryable form of a backoff model: one open-addressing hash table per
// order keyed by a 64-bit hash of the word ids (KenLM's "probing" layout),
// plus a hashed vocabulary. The same bytes serve in memory (built from an
// ARPA file) and on disk: `kiln ngram compile` writes them after a header
// with a magic, a version and checksums, and loading maps the file.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <string_view>

#include "kiln/models/ngram/model.hpp"

namespace kiln::ngram {

struct ProbBackoff {
  float log10_prob;
  float log10_backoff;
};

class NgramIndex {
 public:
  // How much of a compiled file load() verifies. Either way the header and
  // the section sizes are checked at load and no lookup can leave the file
  // or run away. full: every checksum and table at load (a whole-file pass).
  // lazy: each 4 KiB block's checksum before its first use, so a corrupt
  // block is refused (kiln::Error) by the lookup that reads it. background:
  // lazy, while a thread of the model's own verifies the blocks in file order
  // ahead of the lookups (a block that does not match is left for its lookup
  // to refuse). automatic: full for files up to 8 MiB, background above.
  enum class Verify { automatic, full, lazy, background };
  static constexpr uint64_t kFullVerifyBytes = uint64_t{8} << 20;

  static NgramIndex build(const BackoffModel& model);
  // An ARPA file's tables built while it is read: the parsed model is never
  // held beside them (compile and query of an ARPA file need only the tables).
  static NgramIndex from_arpa(const std::filesystem::path& arpa);
  static NgramIndex load(const std::filesystem::path& path, Verify verify = Verify::automatic);  // memory-mapped
  void save(const std::filesystem::path& path) const;        // atomic

  int order() const { return order_; }
  size_t vocab_size() const;
  std::optional<WordId> word_id(std::string_view word) const;
  // word_id of each word (kUnk when out of vocabulary) into ids[0..words.size()),
  // the vocabulary slots of all prefetched first.
  void word_ids(std::span<const std::string_view> words, WordId* ids) const;
  std::string_view word(WordId id) const;
  // An n-gram's values (the highest order's backoff is 0); none when absent.
  std::optional<ProbBackoff> find(std::span<const WordId> ngram) const;

  // Looking up w, then h_k w, then h_{k-1} h_k w, ... with one hashing step
  // each: chain = extend_key(start_key(), w), then extend_key(chain, h_k), ...
  static constexpr uint64_t start_key() { return 0x9e3779b97f4a7c15ull; }
  static uint64_t extend_key(uint64_t chain, WordId id) {
    uint64_t x = chain ^ (id + 0x632be59bd9b4e019ull);
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  }
  // The n-gram (n ≥ 2) whose chain this is. Unigrams are not hashed: the
  // 1-gram table is an array indexed by word id (unigram()).
  std::optional<ProbBackoff> find_chain(int n, uint64_t chain) const;
  const ProbBackoff* unigram(WordId id) const;
  // Whether every n-gram's suffix (first word dropped) is in the model too.
  bool suffix_closed() const { return suffix_closed_; }
  // A query's step for one token of a suffix-closed model, in one call:
  // word is the token, chains[m−1] the chain of its m-gram (m = 2..longest).
  // Extends the match one word at a time until an n-gram is missing; returns
  // the length matched (0: none), the log10 probability of the longest
  // n-gram found and backoffs[m−1] of each m-gram found.
  int match_suffix_closed(WordId word, const uint64_t* chains, int longest, float& log10_prob, float* backoffs) const;
  // Hides the memory latency of a later match_suffix_closed.
  void prefetch_chains(WordId word, const uint64_t* chains, int longest) const;
  // Blocks of the file whose checksum has been verified, of how many.
  std::pair<uint64_t, uint64_t> verified_blocks() const;

  struct Region;  // the bytes: owned buffer or mapped file
  class Builder;  // fills a Region entry by entry

 private:
  std::optional<ProbBackoff> find_key(int n, uint64_t key) const;
  std::optional<WordId> find_word(std::string_view word, uint64_t key) const;

  std::shared_ptr<const Region> region_;
  int order_ = 0;
  bool suffix_closed_ = false;
};

}  // namespace kiln::ngram
