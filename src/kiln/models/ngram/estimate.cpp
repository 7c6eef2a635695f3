#include "kiln/models/ngram/estimate.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "kiln/base/error.hpp"
#include "kiln/models/ngram/ngram_lookup.hpp"
#include "kneser_ney_arithmetic.hpp"

namespace kiln::ngram {

namespace {

// All n-grams of one length during estimation, in suffix order.
struct Level {
  int n = 0;
  std::vector<WordId> words;
  // Each array lives only while it is needed: raw until the order below is
  // derived, count and suffix until this order's probabilities are computed.
  std::vector<uint64_t> count;    // the count this order uses: adjusted, or raw
  std::vector<uint64_t> raw;      // occurrences in the corpus
  std::vector<uint32_t> suffix;   // position of the n-gram without its first word, one order down
  std::vector<uint8_t> pruned;
  std::vector<float> prob;
  std::vector<float> gamma;           // interpolation weight as a context; 0 if none
  std::vector<uint8_t> has_children;  // kept children at the next order

  size_t size() const { return words.size() / static_cast<size_t>(n); }
  std::span<const WordId> ngram(size_t i) const {
    return {words.data() + i * static_cast<size_t>(n), static_cast<size_t>(n)};
  }
  bool last_is(std::span<const WordId> ids) const {
    return size() > 0 && std::equal(ids.begin(), ids.end(), ngram(size() - 1).begin());
  }
  void push(std::span<const WordId> ids, uint64_t adjusted, uint64_t occurrences) {
    KILN_CHECK(size() < std::numeric_limits<uint32_t>::max(), "more than 4 billion {}-grams", n);
    words.insert(words.end(), ids.begin(), ids.end());
    count.push_back(adjusted);
    raw.push_back(occurrences);
  }
};

// Order n−1 from order n: each distinct suffix, with the number of words seen
// before it (the continuation count) and its occurrences. Suffix order keeps
// n-grams that share a suffix together, so one pass suffices. The <s>-initial
// n-grams that padding collapsed into this order are merged in by position.
Level derive_lower(Level& above, const NgramCounts& collapsed) {
  Level level;
  level.n = above.n - 1;
  const size_t most = above.size() + collapsed.size();
  level.words.reserve(most * static_cast<size_t>(level.n));
  level.count.reserve(most);
  level.raw.reserve(most);
  above.suffix.assign(above.size(), 0);
  size_t next = 0;
  auto take_collapsed_up_to = [&](std::span<const WordId> bound) {
    for (; next < collapsed.size() && (bound.empty() || !suffix_less(bound, collapsed.ngram(next))); ++next) {
      if (level.last_is(collapsed.ngram(next))) {
        level.count.back() += collapsed.counts[next];
        level.raw.back() += collapsed.counts[next];
      } else {
        level.push(collapsed.ngram(next), collapsed.counts[next], collapsed.counts[next]);
      }
    }
  };
  for (size_t i = 0; i < above.size(); ++i) {
    const auto s = above.ngram(i).subspan(1);
    if (!level.last_is(s)) take_collapsed_up_to(s);
    if (level.last_is(s)) {
      level.count.back() += 1;
      level.raw.back() += above.raw[i];
    } else {
      level.push(s, 1, above.raw[i]);
    }
    above.suffix[i] = static_cast<uint32_t>(level.size() - 1);
  }
  take_collapsed_up_to({});
  return level;
}

// Steps 1–3 of lmplz: collapse <s> padding, derive lower orders with
// continuation counts (raw counts for <s>-initial n-grams). `complete` sees
// each order once its counts are final and before its raw counts are freed.
std::vector<Level> build_levels(NgramCounts top, const std::function<void(Level&)>& complete) {
  const int order = top.order;
  std::vector<NgramCounts> collapsed(static_cast<size_t>(order));
  for (int n = 1; n < order; ++n) collapsed[static_cast<size_t>(n)].order = n;
  // <unk> never occurs and <s> is never predicted; both are unigrams with count 0.
  NgramCounts specials;
  specials.order = 1;
  specials.words = {kUnk, kBos};
  specials.counts = {0, 0};

  std::vector<Level> levels(static_cast<size_t>(order) + 1);
  Level& highest = levels[static_cast<size_t>(order)];
  highest.n = order;
  // The real n-grams stay in place (compacted to the front); padding moves down.
  const size_t n = static_cast<size_t>(order);
  size_t kept = 0;
  for (size_t i = 0; i < top.size(); ++i) {
    const auto g = top.ngram(i);
    if (order >= 2 && g[1] == kBos) {
      size_t last_bos = 1;
      while (last_bos + 1 < g.size() && g[last_bos + 1] == kBos) ++last_bos;
      NgramCounts& into = collapsed[n - last_bos];
      into.words.insert(into.words.end(), g.begin() + static_cast<std::ptrdiff_t>(last_bos), g.end());
      into.counts.push_back(top.counts[i]);
      continue;
    }
    std::copy(g.begin(), g.end(), top.words.begin() + static_cast<std::ptrdiff_t>(kept * n));
    top.counts[kept++] = top.counts[i];
  }
  if (order == 1) {  // the specials' ids are the smallest: they go first
    top.words.insert(top.words.begin(), specials.words.begin(), specials.words.end());
    top.counts.insert(top.counts.begin(), specials.counts.begin(), specials.counts.end());
    kept += specials.size();
  }
  top.words.resize(kept * n);
  top.counts.resize(kept);
  highest.words = std::move(top.words);
  highest.count = std::move(top.counts);
  highest.raw = highest.count;
  for (int n = order - 1; n >= 1; --n) {
    NgramCounts& extra = collapsed[static_cast<size_t>(n)];
    if (n == 1) {
      extra.words.insert(extra.words.end(), specials.words.begin(), specials.words.end());
      extra.counts.insert(extra.counts.end(), specials.counts.begin(), specials.counts.end());
    }
    sort_suffix_order(extra);
    Level& above = levels[static_cast<size_t>(n) + 1];
    levels[static_cast<size_t>(n)] = derive_lower(above, extra);
    complete(above);
    std::vector<uint64_t>().swap(above.raw);
  }
  complete(levels[1]);
  std::vector<uint64_t>().swap(levels[1].raw);
  return levels;
}

std::array<uint64_t, 4> counts_of_counts(const Level& level, bool top, bool kenlm_quirk) {
  std::array<uint64_t, 4> n{};
  for (size_t i = 0; i < level.size(); ++i) {
    uint64_t c = level.count[i];
    if (kenlm_quirk && !top && i + 1 == level.size()) c = level.raw[i];
    if (c >= 1 && c <= 4) ++n[c - 1];
  }
  return n;
}

void mark_pruned(Level& level, const EstimateOptions& options) {
  level.pruned.assign(level.size(), 0);
  for (size_t i = 0; i < level.size(); ++i) level.pruned[i] = is_pruned(level.ngram(i), level.raw[i], options);
}

// Unigrams: one context (the empty one), interpolated with the uniform
// distribution over the surviving vocabulary without <s> (lmplz's
// counts_pruned[0] − 1, so --limit-vocab and unigram pruning shrink it); <s>
// gets probability 1. The uniform term is 1/V formed in double from a float V,
// then rounded to float, as lmplz's Interpolate does.
void unigram_probabilities(Level& level, const Discount& d) {
  ContextSums sums;
  size_t kept = 0;
  for (size_t i = 0; i < level.size(); ++i) {
    sums.add(level.count[i], level.pruned[i]);
    kept += !level.pruned[i];
  }
  const float gamma = interpolation_weight(d, sums);
  const float uniform = uniform_probability(kept);
  level.prob.assign(level.size(), 0.0f);
  for (size_t i = 0; i < level.size(); ++i) {
    if (level.pruned[i]) continue;
    const float own = own_probability(d, level.count[i], sums.denominator);
    level.prob[i] = level.ngram(i)[0] == kBos ? 1.0f : interpolate(own, gamma, uniform);
  }
}

// Order n ≥ 2: per context h, den(h) = Σ a(hx) over all children; kept
// children get u = (a − D(a))/den, γ(h) as interpolation_weight; then
// p(g) = u(g) + γ(h)·p(suffix of g), all in float as lmplz computes it.
void interpolated_probabilities(Level& level, Level& lower, const Discount& d) {
  NgramLookup contexts(lower.words, lower.n);
  for (size_t j = 0; j < lower.size(); ++j) contexts.insert(j);
  std::vector<uint32_t> context_of(level.size());
  std::vector<ContextSums> sums(lower.size());
  lower.has_children.assign(lower.size(), 0);
  level.prob.assign(level.size(), 0.0f);
  for (size_t i = 0; i < level.size(); ++i) {
    const auto g = level.ngram(i);
    const auto at = contexts.find(g.first(g.size() - 1));
    KILN_CHECK(at.has_value(), "estimate: internal error, a context is missing");
    const size_t h = *at;
    context_of[i] = static_cast<uint32_t>(h);
    sums[h].add(level.count[i], level.pruned[i]);
    if (!level.pruned[i]) lower.has_children[h] = 1;
  }
  lower.gamma.assign(lower.size(), 0.0f);
  for (size_t h = 0; h < lower.size(); ++h)
    if (sums[h].denominator > 0) lower.gamma[h] = interpolation_weight(d, sums[h]);
  for (size_t i = 0; i < level.size(); ++i) {
    if (level.pruned[i]) continue;
    const size_t h = context_of[i];
    const float own = own_probability(d, level.count[i], sums[h].denominator);
    level.prob[i] = interpolate(own, lower.gamma[h], lower.prob[level.suffix[i]]);
  }
}

// ARPA values: log10 p, and log10 γ for n-grams that are the context of a
// kept n-gram (never for ones ending in </s> or <unk>, as lmplz).
OrderTable final_table(const Level& level, int order) {
  OrderTable table;
  table.n = level.n;
  const size_t kept = level.size() - static_cast<size_t>(std::count(level.pruned.begin(), level.pruned.end(), 1));
  table.words.reserve(kept * static_cast<size_t>(level.n));
  table.log10_prob.reserve(kept);
  table.log10_backoff.reserve(kept);
  for (size_t i = 0; i < level.size(); ++i) {
    if (level.pruned[i]) continue;
    const auto g = level.ngram(i);
    table.words.insert(table.words.end(), g.begin(), g.end());
    table.log10_prob.push_back(arpa_log10_prob(level.prob[i]));
    const bool backs_off = level.n < order && level.has_children[i] && g.back() != kEos && g.back() != kUnk;
    table.log10_backoff.push_back(backs_off ? arpa_log10_backoff(level.gamma[i]) : 0.0f);
  }
  return table;
}

}  // namespace

// Peak RSS less the executable's 14 MiB, over the highest order's count bytes,
// measured with --memory 16G: KJV order 3 5.8, order 5 5.1; the 27M-token
// scale corpus order 3 4.7, order 5 5.3. Lower orders weigh more at order 3.
uint64_t in_memory_estimate_bytes(const NgramCounts& top) {
  const uint64_t entry = sizeof(WordId) * static_cast<uint64_t>(top.order) + sizeof(uint64_t);
  return top.size() * entry * 6;
}

BackoffModel estimate_kneser_ney(NgramCounts top, const Vocabulary& vocab, const EstimateOptions& options,
                                 EstimateReport* report) {
  const int order = top.order;
  KILN_CHECK(order >= 1 && top.size() > 0, "estimate: no n-grams");
  for (size_t i = 1; i < options.prune.size(); ++i)
    KILN_CHECK(options.prune[i] >= options.prune[i - 1], "--prune thresholds must not decrease");
  KILN_CHECK(options.prune.size() <= static_cast<size_t>(order),
             "--prune gives thresholds for {} orders but the model has order {}", options.prune.size(), order);
  EstimateReport local;
  EstimateReport& rep = report != nullptr ? *report : local;
  const size_t orders = static_cast<size_t>(order);
  rep.counts_of_counts.assign(orders, {});
  rep.discounts.assign(orders, {});
  rep.fell_back.assign(orders, false);
  // Discounts come from all n-grams, pruned or not.
  auto complete = [&](Level& level) {
    const size_t k = static_cast<size_t>(level.n) - 1;
    rep.counts_of_counts[k] = counts_of_counts(level, level.n == order, options.kenlm_counts_of_counts);
    const auto& coc = rep.counts_of_counts[k];
    const auto d = closed_form_discounts(coc);
    KILN_CHECK(d || options.discount_fallback,
               "could not estimate discounts for order {} from counts-of-counts {}, {}, {}, {} "
               "(is the corpus very small or artificial? --discount-fallback uses fixed discounts)",
               level.n, coc[0], coc[1], coc[2], coc[3]);
    rep.discounts[k] = d ? *d : *options.discount_fallback;
    rep.fell_back[k] = !d;
    mark_pruned(level, options);
  };
  std::vector<Level> levels = build_levels(std::move(top), complete);
  std::vector<Discount> discounts(orders + 1);
  std::copy(rep.discounts.begin(), rep.discounts.end(), discounts.begin() + 1);

  // A level is final once the order above has given it its interpolation
  // weights; it is then written out and freed, so the estimate's peak stays
  // near the size of the counts.
  BackoffModel model;
  model.vocab = vocab.words();
  unigram_probabilities(levels[1], discounts[1]);
  for (int n = 2; n <= order; ++n) {
    Level& level = levels[static_cast<size_t>(n)];
    interpolated_probabilities(level, levels[static_cast<size_t>(n) - 1], discounts[static_cast<size_t>(n)]);
    std::vector<uint64_t>().swap(level.count);
    std::vector<uint32_t>().swap(level.suffix);
    model.orders.push_back(final_table(levels[static_cast<size_t>(n) - 1], order));
    levels[static_cast<size_t>(n) - 1] = Level();
  }
  model.orders.push_back(final_table(levels[static_cast<size_t>(order)], order));
  return model;
}

}  // namespace kiln::ngram
