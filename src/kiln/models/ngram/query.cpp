#include "kiln/models/ngram/query.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace kiln::ngram {

namespace {

constexpr int kMaxContext = 9;  // order 10

// What scoring the next word needs from the words before it: the most recent
// order−1 ids and the backoff weight of each of their suffixes, carried over
// from the lookups that scored those words.
struct Context {
  std::array<WordId, kMaxContext> words{};   // words[0] is the most recent
  std::array<float, kMaxContext> backoff{};  // backoff[j−1]: of the j most recent words (0 if not in the model)
  int length = 0;
};

Context start_context(const NgramIndex& model, bool sentence_context) {
  Context context;
  if (sentence_context && model.order() > 1) {
    const WordId bos[] = {kBos};
    const ProbBackoff* entry = model.find(bos);
    context.words[0] = kBos;
    context.backoff[0] = entry != nullptr ? entry->log10_backoff : 0.0f;
    context.length = 1;
  }
  return context;
}

// Finds the longest n-gram (suffix of context + word) in the model and the
// backoffs of the suffixes shorter than it, which the next word's context needs.
int match(const NgramIndex& model, const Context& context, WordId id, float& log10_prob,
          std::array<float, kMaxContext + 1>& found_backoff) {
  const int longest = context.length + 1;
  std::array<uint64_t, kMaxContext + 1> chain{};
  chain[0] = NgramIndex::extend_key(NgramIndex::start_key(), id);
  for (int m = 2; m <= longest; ++m) chain[m - 1] = NgramIndex::extend_key(chain[m - 2], context.words[m - 2]);
  int matched = 0;
  if (model.suffix_closed()) {  // no suffix of a missing n-gram is longer than it
    for (int m = 1; m <= longest; ++m) {
      const ProbBackoff* entry = model.find_chain(m, chain[m - 1]);
      if (entry == nullptr) break;
      matched = m;
      log10_prob = entry->log10_prob;
      found_backoff[m - 1] = entry->log10_backoff;
    }
    return matched;
  }
  for (int m = longest; m >= 1 && matched == 0; --m) {
    if (const ProbBackoff* entry = model.find_chain(m, chain[m - 1])) {
      matched = m;
      log10_prob = entry->log10_prob;
    }
  }
  for (int m = 1; m <= matched; ++m) {
    const ProbBackoff* entry = model.find_chain(m, chain[m - 1]);
    found_backoff[m - 1] = entry != nullptr ? entry->log10_backoff : 0.0f;
  }
  return matched;
}

WordScore score_word(const NgramIndex& model, Context& context, std::string_view text, WordId id) {
  WordScore s{text, id, 0, 0.0f};
  std::array<float, kMaxContext + 1> found_backoff{};
  s.matched = match(model, context, id, s.log10_prob, found_backoff);
  // The backoffs of every context longer than the matched one.
  for (int j = std::max(s.matched, 1); j <= context.length; ++j) s.log10_prob += context.backoff[j - 1];

  const int keep = std::min(model.order() - 1, context.length + 1);
  for (int j = keep - 1; j >= 1; --j) context.words[j] = context.words[j - 1];
  if (keep > 0) context.words[0] = id;
  for (int j = 0; j < keep; ++j) context.backoff[j] = j < s.matched ? found_backoff[j] : 0.0f;
  context.length = keep;
  return s;
}

}  // namespace

SentenceScore score_sentence(const NgramIndex& model, std::span<const std::string_view> words, bool sentence_context) {
  SentenceScore sentence;
  sentence.words.reserve(words.size() + 1);
  Context context = start_context(model, sentence_context);
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
