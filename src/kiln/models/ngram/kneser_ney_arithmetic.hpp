#pragma once
// The float arithmetic of lmplz's modified Kneser-Ney, shared by the in-memory
// and the out-of-core estimate so that both give the same bits: every value
// is formed here, in lmplz's order of operations, in a file compiled without
// FMA contraction.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kiln/models/ngram/estimate.hpp"

namespace kiln::ngram {

// Chen & Goodman's closed-form discounts from counts-of-counts n1..n4; none
// when they are undefined or out of range.
std::optional<Discount> closed_form_discounts(const std::array<uint64_t, 4>& n);

// (a − D(a)) with a rounded to float first, as lmplz's Discount::Apply.
float discounted(const Discount& d, uint64_t count);

// What lmplz sums over the children of one context, in integers: all their
// adjusted counts, the counts of the pruned ones, and how many kept ones have
// adjusted count 1, 2 and 3+.
struct ContextSums {
  uint64_t denominator = 0;
  uint64_t pruned_mass = 0;
  std::array<uint32_t, 3> kept_with_count{};  // children differ in their last word: fewer than 2^32

  void add(uint64_t count, bool pruned) {
    denominator += count;
    if (pruned) pruned_mass += count;
    else if (count > 0) ++kept_with_count[(count < 3 ? count : 3) - 1];
  }
};

// γ(h) = (D1·k1 + D2·k2 + D3·k3+ + pruned mass) / denominator (lmplz's AddRight).
float interpolation_weight(const Discount& d, const ContextSums& s);

// A child's own share, (a − D(a)) / den(h).
float own_probability(const Discount& d, uint64_t count, uint64_t denominator);

// p = own + γ·p_lower, rounded as lmplz rounds it.
float interpolate(float own, float gamma, float lower);

// The unigram's uniform term 1/V over the kept words without <s>: V formed as
// a float, the division in double, then rounded to float (lmplz's Interpolate).
float uniform_probability(uint64_t kept_unigrams);

// The raw-count threshold of order n; 0 = none.
uint64_t prune_threshold(const std::vector<uint64_t>& prune, int n);

// Whether an n-gram with this raw count is pruned: by threshold, or by a word
// outside --limit-vocab. <unk>, <s> and </s> as unigrams never are.
bool is_pruned(std::span<const WordId> ngram, uint64_t raw, const EstimateOptions& options);

// The ARPA columns: log10 p (capped at 0 against rounding above 1, as lmplz's
// OutputProbBackoff) and log10 γ.
float arpa_log10_prob(float prob);
float arpa_log10_backoff(float gamma);

}  // namespace kiln::ngram
