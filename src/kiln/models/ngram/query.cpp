#include "kiln/models/ngram/query.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace kiln::ngram {

namespace {

constexpr int kMaxOrder = 10;

// The keys of w, h_k w, h_{k-1} h_k w, ... for the token at `position`
// (its context being the tokens before it, at most order−1 of them).
struct Chains {
  std::array<uint64_t, kMaxOrder> key{};
  WordId word = 0;
  int longest = 0;
};

Chains chains_at(const NgramIndex& model, std::span<const WordId> tokens, size_t position) {
  Chains c;
  c.longest = static_cast<int>(std::min<size_t>(static_cast<size_t>(model.order()), position + 1));
  c.word = tokens[position];
  c.key[0] = NgramIndex::extend_key(NgramIndex::start_key(), tokens[position]);
  for (int m = 2; m <= c.longest; ++m) c.key[m - 1] = NgramIndex::extend_key(c.key[m - 2], tokens[position + 1 - m]);
  model.prefetch_chains(c.word, c.key.data(), c.longest);
  return c;
}

// backoff[j−1]: log10 backoff of the j most recent tokens (0 if not in the
// model), carried over from the lookups that scored those tokens.
using Backoffs = std::array<float, kMaxOrder>;

// Finds the longest n-gram for the token and the backoffs of its suffixes
// up to that length, which the next token's context needs.
int match(const NgramIndex& model, const Chains& chains, float& log10_prob, Backoffs& found) {
  int matched = 0;
  if (model.suffix_closed())  // no n-gram is longer than a missing suffix of it
    return model.match_suffix_closed(chains.word, chains.key.data(), chains.longest, log10_prob, found.data());
  auto lookup = [&](int m) -> std::optional<ProbBackoff> {
    if (m > 1) return model.find_chain(m, chains.key[m - 1]);
    const ProbBackoff* entry = model.unigram(chains.word);
    return entry != nullptr ? std::optional<ProbBackoff>(*entry) : std::nullopt;
  };
  for (int m = chains.longest; m >= 1 && matched == 0; --m) {
    if (const std::optional<ProbBackoff> entry = lookup(m)) {
      matched = m;
      log10_prob = entry->log10_prob;
    }
  }
  for (int m = 1; m <= matched; ++m) {
    const std::optional<ProbBackoff> entry = lookup(m);
    found[m - 1] = entry ? entry->log10_backoff : 0.0f;
  }
  return matched;
}

}  // namespace

SentenceScore score_sentence(const NgramIndex& model, std::span<const std::string_view> words, bool sentence_context) {
  SentenceScore sentence;
  sentence.words.reserve(words.size() + 1);
  // The context of each token is the tokens before it, so every lookup key is
  // known in advance: the next token's slots are prefetched while this one is scored.
  const bool bos = sentence_context && model.order() > 1;
  std::vector<WordId> tokens(words.size() + 2);
  const size_t first = bos ? 1 : 0;
  if (bos) tokens[0] = kBos;
  model.word_ids(words, tokens.data() + first);  // out-of-vocabulary words are kUnk
  tokens.resize(first + words.size());
  if (sentence_context) tokens.push_back(kEos);

  Backoffs context{};
  int context_length = 0;
  if (bos) {
    const WordId start[] = {kBos};
    const std::optional<ProbBackoff> entry = model.find(start);
    context[0] = entry ? entry->log10_backoff : 0.0f;
    context_length = 1;
  }
  // The slots of the token kAhead positions on are prefetched while this one
  // is scored (a ring of the keys computed so far).
  constexpr size_t kAhead = 4;
  std::array<Chains, kAhead> ahead;
  for (size_t p = first; p < tokens.size() && p < first + kAhead; ++p) ahead[p % kAhead] = chains_at(model, tokens, p);
  for (size_t p = first; p < tokens.size(); ++p) {
    const Chains current = ahead[p % kAhead];
    if (p + kAhead < tokens.size()) ahead[p % kAhead] = chains_at(model, tokens, p + kAhead);
    const std::string_view text = p - first < words.size() ? words[p - first] : std::string_view("</s>");
    WordScore s{text, tokens[p], 0, 0.0f};
    Backoffs found{};
    s.matched = match(model, current, s.log10_prob, found);
    // The backoffs of every context longer than the matched one.
    for (int j = std::max(s.matched, 1); j <= context_length; ++j) s.log10_prob += context[j - 1];
    context_length = std::min(model.order() - 1, context_length + 1);
    for (int j = 0; j < context_length; ++j) context[j] = j < s.matched ? found[j] : 0.0f;
    sentence.total += s.log10_prob;
    sentence.oov += s.id == kUnk;
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
