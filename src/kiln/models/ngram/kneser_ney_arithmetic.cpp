#include "kneser_ney_arithmetic.hpp"

#include <algorithm>
#include <cmath>

// Every product here must be rounded to float before it is added, as in
// lmplz (built without FMA): with -march=native the compiler would otherwise
// fuse a*b+c into one FMA and the estimate would drift from lmplz's by an ULP.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace kiln::ngram {

// y = n1 / (n1 + 2·n2) with the denominator formed in double, then
// D_j = j − (j+1)·y·n_{j+1} / n_j, each step rounded to float (their eq. 26).
std::optional<Discount> closed_form_discounts(const std::array<uint64_t, 4>& n) {
  if (n[0] == 0 || n[1] == 0 || n[2] == 0) return std::nullopt;
  const double n1_plus_2n2 = static_cast<double>(n[0]) + 2.0 * static_cast<double>(n[1]);
  const float y = static_cast<float>(n[0]) / static_cast<float>(n1_plus_2n2);
  Discount d{};
  for (size_t j = 1; j <= 3; ++j) {
    const float scaled = static_cast<float>(j + 1) * y * static_cast<float>(n[j]);
    d[j - 1] = static_cast<float>(j) - scaled / static_cast<float>(n[j - 1]);
    if (d[j - 1] < 0.0f || d[j - 1] > static_cast<float>(j)) return std::nullopt;
  }
  return d;
}

float discounted(const Discount& d, uint64_t count) {
  const float discount = count == 0 ? 0.0f : d[std::min<uint64_t>(count, 3) - 1];
  return static_cast<float>(count) - discount;
}

float interpolation_weight(const Discount& d, const ContextSums& s) {
  float gamma = 0.0f;
  for (size_t j = 0; j < 3; ++j) gamma += d[j] * static_cast<float>(s.kept_with_count[j]);
  gamma += static_cast<float>(s.pruned_mass);
  return gamma / static_cast<float>(s.denominator);
}

float own_probability(const Discount& d, uint64_t count, uint64_t denominator) {
  return discounted(d, count) / static_cast<float>(denominator);
}

float interpolate(float own, float gamma, float lower) { return own + gamma * lower; }

float uniform_probability(uint64_t kept_unigrams) {
  const float vocabulary = static_cast<float>(std::max<uint64_t>(kept_unigrams, 2) - 1);
  return static_cast<float>(1.0 / static_cast<double>(vocabulary));
}

uint64_t prune_threshold(const std::vector<uint64_t>& prune, int n) {
  if (prune.empty()) return 0;
  return prune[std::min<size_t>(static_cast<size_t>(n) - 1, prune.size() - 1)];
}

bool is_pruned(std::span<const WordId> ngram, uint64_t raw, const EstimateOptions& options) {
  if (ngram.size() == 1 && ngram[0] <= kEos) return false;
  const uint64_t t = prune_threshold(options.prune, static_cast<int>(ngram.size()));
  if (t > 0 && raw <= t) return true;
  if (options.limit_vocab)
    for (WordId w : ngram)
      if (w > kEos && options.limit_vocab->count(w) == 0) return true;
  return false;
}

float arpa_log10_prob(float prob) { return std::min(0.0f, std::log10(prob)); }

float arpa_log10_backoff(float gamma) { return std::log10(gamma); }

}  // namespace kiln::ngram
