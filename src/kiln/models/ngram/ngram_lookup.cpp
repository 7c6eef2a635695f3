#include "kiln/models/ngram/ngram_lookup.hpp"

#include <algorithm>
#include <limits>

#include "kiln/base/error.hpp"

namespace kiln::ngram {

uint64_t hash_ngram(std::span<const WordId> ids) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ ids.size();
  for (WordId id : ids) {
    h = (h ^ id) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 29);
}

NgramLookup::NgramLookup(const std::vector<WordId>& words, int n)
    : words_(&words), n_(static_cast<size_t>(n)), slots_(64, 0) {}

std::span<const WordId> NgramLookup::entry(size_t position) const {
  return {words_->data() + position * n_, n_};
}

std::optional<size_t> NgramLookup::insert(size_t position) {
  KILN_CHECK(position < std::numeric_limits<uint32_t>::max(), "more than 4 billion n-grams of one order");
  if ((size_ + 1) * 3 > slots_.size() * 2) grow();
  const auto ids = entry(position);
  const size_t mask = slots_.size() - 1;
  for (size_t slot = hash_ngram(ids) & mask;; slot = (slot + 1) & mask) {
    if (slots_[slot] == 0) {
      slots_[slot] = static_cast<uint32_t>(position + 1);
      ++size_;
      return std::nullopt;
    }
    const auto other = entry(slots_[slot] - 1);
    if (std::equal(ids.begin(), ids.end(), other.begin())) return slots_[slot] - 1;
  }
}

std::optional<size_t> NgramLookup::find(std::span<const WordId> ids) const {
  const size_t mask = slots_.size() - 1;
  for (size_t slot = hash_ngram(ids) & mask; slots_[slot] != 0; slot = (slot + 1) & mask) {
    const auto other = entry(slots_[slot] - 1);
    if (std::equal(ids.begin(), ids.end(), other.begin())) return slots_[slot] - 1;
  }
  return std::nullopt;
}

void NgramLookup::grow() {
  std::vector<uint32_t> old(slots_.size() * 2, 0);
  old.swap(slots_);
  const size_t mask = slots_.size() - 1;
  for (uint32_t stored : old) {
    if (stored == 0) continue;
    size_t slot = hash_ngram(entry(stored - 1)) & mask;
    while (slots_[slot] != 0) slot = (slot + 1) & mask;
    slots_[slot] = stored;
  }
}

}  // namespace kiln::ngram
