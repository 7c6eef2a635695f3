#include "kiln/models/ngram/query.hpp"

#include <algorithm>
#include <cmath>

namespace kiln::ngram {

namespace {

// Scores `word` after `context` (oldest first, at most order−1 words).
WordScore score_word(const NgramIndex& model, std::vector<WordId>& context, std::string_view text, WordId id) {
  std::vector<WordId> ngram(context);
  ngram.push_back(id);
  const int k = static_cast<int>(context.size());
  WordScore s{text, id, 0, 0.0f};
  for (int m = k + 1; m >= 1; --m) {
    const auto tail = std::span<const WordId>(ngram).last(static_cast<size_t>(m));
    if (const ProbBackoff* found = model.find(tail)) {
      s.matched = m;
      s.log10_prob = found->log10_prob;
      break;
    }
  }
  for (int j = s.matched; j <= k; ++j) {  // backoffs of the contexts longer than the matched one
    if (j == 0) continue;
    if (const ProbBackoff* c = model.find(std::span<const WordId>(context).last(static_cast<size_t>(j))))
      s.log10_prob += c->log10_backoff;
  }
  context.push_back(id);
  const size_t keep = static_cast<size_t>(std::max(model.order() - 1, 0));
  if (context.size() > keep) context.erase(context.begin(), context.end() - static_cast<std::ptrdiff_t>(keep));
  return s;
}

}  // namespace

SentenceScore score_sentence(const NgramIndex& model, std::span<const std::string_view> words, bool sentence_context) {
  SentenceScore sentence;
  std::vector<WordId> context;
  if (sentence_context && model.order() > 1) context.push_back(kBos);
  for (std::string_view w : words) {
    const WordId id = model.word_id(w).value_or(kUnk);
    const WordScore s = score_word(model, context, w, id);
    sentence.total += s.log10_prob;
    sentence.oov += id == kUnk;
    sentence.words.push_back(s);
  }
  if (sentence_context) {
    const WordScore s = score_word(model, context, "</s>", kEos);
    sentence.total += s.log10_prob;
    sentence.words.push_back(s);
  }
  return sentence;
}

void CorpusScore::add(const SentenceScore& sentence) {
  total += sentence.total;
  for (const WordScore& w : sentence.words) {
    ++tokens;
    if (w.id == kUnk) {
      ++oov;
      oov_total += w.log10_prob;
    }
  }
}

double CorpusScore::perplexity_including_oov() const { return std::pow(10.0, -(total / static_cast<double>(tokens))); }

double CorpusScore::perplexity_excluding_oov() const {
  return std::pow(10.0, -((total - oov_total) / static_cast<double>(tokens - oov)));
}

}  // namespace kiln::ngram
