#include "kiln/models/ngram/estimate.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "kiln/base/error.hpp"

namespace kiln::ngram {

namespace {

// All n-grams of one length during estimation, sorted in suffix order.
struct Level {
  int n = 0;
  std::vector<WordId> words;
  std::vector<uint64_t> count;  // the count this order uses: adjusted, or raw
  std::vector<uint64_t> raw;    // occurrences in the corpus
  std::vector<bool> pruned;
  std::vector<double> prob;
  std::vector<double> gamma;       // interpolation weight as a context; 0 if none
  std::vector<bool> has_children;  // kept children at the next order
  size_t size() const { return count.size(); }
  std::span<const WordId> ngram(size_t i) const {
    return {words.data() + i * static_cast<size_t>(n), static_cast<size_t>(n)};
  }
};

struct Item {
  std::vector<WordId> ids;
  uint64_t count;
  uint64_t raw;
};

Level make_level(int n, std::vector<Item> items) {
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return suffix_less(a.ids, b.ids); });
  Level level;
  level.n = n;
  for (const Item& item : items) {
    if (level.size() > 0 && std::equal(item.ids.begin(), item.ids.end(), level.ngram(level.size() - 1).begin())) {
      level.count.back() += item.count;
      level.raw.back() += item.raw;
      continue;
    }
    level.words.insert(level.words.end(), item.ids.begin(), item.ids.end());
    level.count.push_back(item.count);
    level.raw.push_back(item.raw);
  }
  level.pruned.assign(level.size(), false);
  level.prob.assign(level.size(), 0.0);
  level.gamma.assign(level.size(), 0.0);
  level.has_children.assign(level.size(), false);
  return level;
}

// Index of `ids` in a suffix-sorted level, or npos.
size_t find(const Level& level, std::span<const WordId> ids) {
  size_t lo = 0, hi = level.size();
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (suffix_less(level.ngram(mid), ids)) lo = mid + 1;
    else hi = mid;
  }
  if (lo < level.size() && std::equal(ids.begin(), ids.end(), level.ngram(lo).begin())) return lo;
  return static_cast<size_t>(-1);
}

// Steps 1–3 of lmplz: collapse <s> padding, derive lower orders with
// continuation counts (raw counts for <s>-initial n-grams).
std::vector<Level> build_levels(const NgramCounts& top) {
  const int order = top.order;
  std::vector<std::vector<Item>> items(static_cast<size_t>(order) + 1);
  for (size_t i = 0; i < top.size(); ++i) {
    const auto g = top.ngram(i);
    if (order >= 2 && g[1] == kBos) {
      size_t last_bos = 1;
      while (last_bos + 1 < g.size() && g[last_bos + 1] == kBos) ++last_bos;
      items[static_cast<size_t>(order) - last_bos].push_back(
          {std::vector<WordId>(g.begin() + static_cast<std::ptrdiff_t>(last_bos), g.end()), top.counts[i], top.counts[i]});
    } else {
      items[static_cast<size_t>(order)].push_back({std::vector<WordId>(g.begin(), g.end()), top.counts[i], top.counts[i]});
    }
  }
  std::vector<Level> levels(static_cast<size_t>(order) + 1);
  levels[static_cast<size_t>(order)] = make_level(order, std::move(items[static_cast<size_t>(order)]));
  for (int n = order - 1; n >= 1; --n) {
    const Level& above = levels[static_cast<size_t>(n) + 1];
    std::vector<Item>& here = items[static_cast<size_t>(n)];
    for (size_t i = 0; i < above.size(); ++i) {
      const auto g = above.ngram(i);
      here.push_back({std::vector<WordId>(g.begin() + 1, g.end()), 1, above.raw[i]});
    }
    if (n == 1) {
      here.push_back({{kUnk}, 0, 0});
      here.push_back({{kBos}, 0, 0});
    }
    levels[static_cast<size_t>(n)] = make_level(n, std::move(here));
  }
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

std::optional<Discount> closed_form(const std::array<uint64_t, 4>& n) {
  if (n[0] == 0 || n[1] == 0 || n[2] == 0) return std::nullopt;
  const double n1 = static_cast<double>(n[0]), n2 = static_cast<double>(n[1]), n3 = static_cast<double>(n[2]),
               n4 = static_cast<double>(n[3]);
  const double y = n1 / (n1 + 2 * n2);
  const Discount d{1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3};
  for (int j = 0; j < 3; ++j)
    if (!(d[j] >= 0 && d[j] <= j + 1)) return std::nullopt;
  return d;
}

double discount_of(const Discount& d, uint64_t count) { return count == 0 ? 0.0 : d[std::min<uint64_t>(count, 3) - 1]; }

uint64_t threshold(const std::vector<uint64_t>& prune, int n) {
  if (prune.empty()) return 0;
  return prune[std::min<size_t>(static_cast<size_t>(n) - 1, prune.size() - 1)];
}

void apply_pruning(std::vector<Level>& levels, const EstimateOptions& options) {
  for (size_t n = 1; n < levels.size(); ++n) {
    Level& level = levels[n];
    const uint64_t t = threshold(options.prune, static_cast<int>(n));
    for (size_t i = 0; i < level.size(); ++i) {
      const auto g = level.ngram(i);
      if (n == 1 && g[0] <= kEos) continue;  // specials are never pruned
      bool drop = t > 0 && level.raw[i] <= t;
      if (options.limit_vocab)
        for (WordId w : g)
          if (w > kEos && options.limit_vocab->count(w) == 0) drop = true;
      level.pruned[i] = drop;
    }
  }
}

// Groups the entries of a level by context (all words but the last).
std::map<std::vector<WordId>, std::vector<size_t>> by_context(const Level& level) {
  std::map<std::vector<WordId>, std::vector<size_t>> groups;
  for (size_t i = 0; i < level.size(); ++i) {
    const auto g = level.ngram(i);
    groups[std::vector<WordId>(g.begin(), g.end() - 1)].push_back(i);
  }
  return groups;
}

}  // namespace

BackoffModel estimate_kneser_ney(const NgramCounts& top, const Vocabulary& vocab, const EstimateOptions& options,
                                 EstimateReport* report) {
  const int order = top.order;
  KILN_CHECK(order >= 1, "estimate: no n-grams");
  for (size_t i = 1; i < options.prune.size(); ++i)
    KILN_CHECK(options.prune[i] >= options.prune[i - 1], "--prune thresholds must not decrease");
  std::vector<Level> levels = build_levels(top);

  EstimateReport local;
  EstimateReport& rep = report != nullptr ? *report : local;
  rep = {};
  std::vector<Discount> discounts(static_cast<size_t>(order) + 1);
  for (int n = 1; n <= order; ++n) {
    const auto coc = counts_of_counts(levels[static_cast<size_t>(n)], n == order, options.kenlm_counts_of_counts);
    const auto d = closed_form(coc);
    if (!d) {
      KILN_CHECK(options.discount_fallback.has_value(),
                 "could not estimate discounts for order {} from counts-of-counts {}, {}, {}, {} "
                 "(is the corpus very small or artificial? --discount-fallback uses fixed discounts)",
                 n, coc[0], coc[1], coc[2], coc[3]);
    }
    discounts[static_cast<size_t>(n)] = d ? *d : *options.discount_fallback;
    rep.counts_of_counts.push_back(coc);
    rep.discounts.push_back(discounts[static_cast<size_t>(n)]);
    rep.fell_back.push_back(!d);
  }
  apply_pruning(levels, options);

  // Uninterpolated probabilities and interpolation weights, per context.
  for (int n = 1; n <= order; ++n) {
    Level& level = levels[static_cast<size_t>(n)];
    const Discount& d = discounts[static_cast<size_t>(n)];
    for (const auto& [context, children] : by_context(level)) {
      double den = 0, numerator = 0;
      bool any_kept = false;
      for (size_t i : children) den += static_cast<double>(level.count[i]);
      for (size_t i : children) {
        if (level.pruned[i]) {
          numerator += static_cast<double>(level.count[i]);
        } else {
          numerator += discount_of(d, level.count[i]);
          level.prob[i] = den > 0 ? (static_cast<double>(level.count[i]) - discount_of(d, level.count[i])) / den : 0.0;
          any_kept = true;
        }
      }
      const double gamma = den > 0 ? numerator / den : 0.0;
      if (n == 1) {
        // Interpolate with the uniform distribution over the vocabulary without <s>.
        const double uniform = 1.0 / static_cast<double>(std::max<size_t>(level.size() - 1, 1));
        for (size_t i : children) level.prob[i] = level.ngram(i)[0] == kBos ? 1.0 : level.prob[i] + gamma * uniform;
        continue;
      }
      Level& parent = levels[static_cast<size_t>(n) - 1];
      const size_t at = find(parent, context);
      KILN_CHECK(at != static_cast<size_t>(-1), "estimate: internal error, a context is missing");
      parent.gamma[at] = gamma;
      parent.has_children[at] = any_kept;
    }
    if (n == 1) continue;
    // p(g) = u(g) + γ(context) · p(suffix)
    const Level& lower = levels[static_cast<size_t>(n) - 1];
    for (size_t i = 0; i < level.size(); ++i) {
      if (level.pruned[i]) continue;
      const auto g = level.ngram(i);
      const size_t context = find(lower, g.first(g.size() - 1));
      const size_t suffix = find(lower, g.subspan(1));
      KILN_CHECK(suffix != static_cast<size_t>(-1), "estimate: internal error, a suffix is missing");
      level.prob[i] += lower.gamma[context] * lower.prob[suffix];
    }
  }

  BackoffModel model;
  model.vocab = vocab.words();
  for (int n = 1; n <= order; ++n) {
    const Level& level = levels[static_cast<size_t>(n)];
    OrderTable table;
    table.n = n;
    for (size_t i = 0; i < level.size(); ++i) {
      if (level.pruned[i]) continue;
      const auto g = level.ngram(i);
      table.words.insert(table.words.end(), g.begin(), g.end());
      table.log10_prob.push_back(static_cast<float>(std::min(0.0, std::log10(level.prob[i]))));
      const bool backs_off = n < order && level.has_children[i] && g.back() != kEos && g.back() != kUnk;
      table.log10_backoff.push_back(backs_off ? static_cast<float>(std::log10(level.gamma[i])) : 0.0f);
    }
    model.orders.push_back(std::move(table));
  }
  return model;
}

}  // namespace kiln::ngram
