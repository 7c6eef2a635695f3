#pragma once
// Finding an n-gram in a flat array of equal-length n-grams (n ids per entry)
// by hashing, without copying the ids: the table holds only positions.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kiln/models/ngram/vocabulary.hpp"

namespace kiln::ngram {

uint64_t hash_ngram(std::span<const WordId> ids);

class NgramLookup {
 public:
  // `words` must outlive the lookup; it may grow between calls to insert().
  NgramLookup(const std::vector<WordId>& words, int n);
  // Indexes entry `position` (already in `words`); returns the position of an
  // earlier equal entry instead if there is one.
  std::optional<size_t> insert(size_t position);
  std::optional<size_t> find(std::span<const WordId> ids) const;

 private:
  std::span<const WordId> entry(size_t position) const;
  void grow();

  const std::vector<WordId>* words_;
  size_t n_;
  std::vector<uint32_t> slots_;  // position + 1; 0 = empty
  size_t size_ = 0;
};

}  // namespace kiln::ngram
