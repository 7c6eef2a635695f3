#pragma once
// The queryable form of a backoff model: one open-addressing hash table per
// order keyed by a 64-bit hash of the word ids (KenLM's "probing" layout),
// plus a hashed vocabulary. The same bytes serve in memory (built from an
// ARPA file) and on disk: `kiln ngram compile` writes them after a header
// with a magic, a version and a checksum, and loading maps the file.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "kiln/models/ngram/model.hpp"

namespace kiln::ngram {

struct ProbBackoff {
  float log10_prob;
  float log10_backoff;
};

class NgramIndex {
 public:
  static NgramIndex build(const BackoffModel& model);
  static NgramIndex load(const std::filesystem::path& path);  // a compiled file, memory-mapped
  void save(const std::filesystem::path& path) const;        // atomic

  int order() const;
  size_t vocab_size() const;
  std::optional<WordId> word_id(std::string_view word) const;
  std::string_view word(WordId id) const;
  const ProbBackoff* find(std::span<const WordId> ngram) const;

  struct Region;  // the bytes: owned buffer or mapped file

 private:
  std::shared_ptr<const Region> region_;
};

}  // namespace kiln::ngram
