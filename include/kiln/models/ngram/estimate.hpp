#pragma once
// Interpolated modified Kneser-Ney estimation, reproducing KenLM's lmplz
// (Heafield et al. 2013) step by step: <s> padding collapsed into shorter
// n-grams, continuation counts for lower orders, three discounts per order
// from counts-of-counts, pruning by raw count, interpolation down to the
// uniform distribution over the surviving vocabulary without <s> — all in
// lmplz's float arithmetic and order of operations, so the ARPA file is its.
#include <array>
#include <optional>
#include <set>
#include <vector>

#include "kiln/models/ngram/counting.hpp"
#include "kiln/models/ngram/model.hpp"

namespace kiln::ngram {

using Discount = std::array<float, 3>;  // D1, D2, D3+ (float, as lmplz keeps them)

struct EstimateOptions {
  std::vector<uint64_t> prune;  // per order, last value repeated; empty = none; <unk> <s> </s> never pruned
  std::optional<Discount> discount_fallback;  // used for orders whose closed form fails
  // lmplz enters the last n-gram of each lower order into counts-of-counts
  // with its raw count (an artefact of its streaming); on by default to match it.
  bool kenlm_counts_of_counts = true;
  std::optional<std::set<WordId>> limit_vocab;  // n-grams with other words are pruned
};

struct EstimateReport {
  std::vector<std::array<uint64_t, 4>> counts_of_counts;  // per order, n1..n4
  std::vector<Discount> discounts;
  std::vector<bool> fell_back;
};

// About the most memory estimate_kneser_ney and writing its model take
// beyond the counts themselves (measured, docs/ngram.md): to choose between
// it and the out-of-core estimate.
uint64_t in_memory_estimate_bytes(const NgramCounts& top);

// Takes the counts by value: pass them with std::move to let the estimate reuse their memory.
BackoffModel estimate_kneser_ney(NgramCounts top, const Vocabulary& vocab, const EstimateOptions& options,
                                 EstimateReport* report = nullptr);

}  // namespace kiln::ngram
