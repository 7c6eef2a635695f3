#pragma once
// A backoff language model as an ARPA file holds it: per order, n-grams with
// log10 probability and log10 backoff weight, over a vocabulary.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kiln/models/ngram/vocabulary.hpp"

namespace kiln::ngram {

struct OrderTable {
  int n = 0;
  std::vector<WordId> words;  // n ids per entry
  std::vector<float> log10_prob;
  std::vector<float> log10_backoff;  // 0 for the highest order
  size_t size() const { return log10_prob.size(); }
  std::span<const WordId> ngram(size_t i) const {
    return {words.data() + i * static_cast<size_t>(n), static_cast<size_t>(n)};
  }
};

struct BackoffModel {
  std::vector<std::string> vocab;   // id → word; 0 <unk>, 1 <s>, 2 </s>
  std::vector<OrderTable> orders;   // orders[k] holds (k+1)-grams
  int order() const { return static_cast<int>(orders.size()); }
};

}  // namespace kiln::ngram
