#pragma once
// Scoring text with a backoff model, as KenLM's `query` does: each word takes
// the longest n-gram the model has for it, plus the backoff weights of every
// longer context; sentences start after <s> and end with </s>.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "kiln/models/ngram/index.hpp"

namespace kiln::ngram {

struct WordScore {
  std::string_view word;  // as written ("</s>" for the sentence end)
  WordId id;              // 0 for out-of-vocabulary words
  int matched;            // length of the n-gram found
  float log10_prob;
};

struct SentenceScore {
  std::vector<WordScore> words;
  float total = 0;  // float, as KenLM sums a sentence
  uint64_t oov = 0;
};

struct CorpusScore {
  double total = 0, oov_total = 0;
  uint64_t oov = 0, tokens = 0;
  void add(const SentenceScore& sentence);
  double perplexity_including_oov() const;
  double perplexity_excluding_oov() const;
};

// sentence_context = false is KenLM's `query -n`: no <s> context, no </s>.
SentenceScore score_sentence(const NgramIndex& model, std::span<const std::string_view> words, bool sentence_context);

}  // namespace kiln::ngram
