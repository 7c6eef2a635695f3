#pragma once
// Token merging (ToMe, Bolya et al., arXiv 2210.09461): bipartite soft
// matching of a batch of sequences that share one token count, and the
// weights of the size-weighted average that merges them (ToMe's merge_wavg).
// Matching carries no gradient; the merge itself is a weighted scatter-add of
// rows that the caller differentiates.
//
// One sequence of t tokens: A = even positions, B = odd positions; each a in A
// is matched to its most similar b (cosine similarity of the metric rows; ties
// go to the smallest b), and the `merges` tokens of A with the highest
// similarity (a stable sort, so equal scores keep position order) are merged
// into their match. A protected first token (a class token) is never merged.
// The merged sequence is: unmerged A tokens in ascending position, then every
// B token in position order — the order ToMe's timm patch produces with a
// class token, fixed here for every case so results are deterministic.
#include <cstdint>

namespace kiln::cpu {

struct TokenMatchShape {
  int64_t batch = 1, tokens = 0, dim = 0;
  int64_t merges = 0;          // tokens each sequence loses; ≤ (tokens − protect_first) / 2 (checked by the caller)
  bool protect_first = false;  // a class token at position 0
};

// metric [batch, tokens, dim] (not normalised) → destination [batch, tokens]:
// the row of the merged [batch · (tokens − merges), ·] output that each token
// goes to (sequence s's rows are s·(tokens − merges) onward). Rows of metric
// with zero norm compare as all-zero vectors.
template <typename T>
void bipartite_soft_matching(const T* metric, const TokenMatchShape& shape, int64_t* destination);

// For n tokens with sizes (nullptr: all 1) and destinations among `rows`
// merged rows: merged_sizes[r] = Σ size of the tokens sent to r, and
// weights[i] = size[i] / merged_sizes[destination[i]], so that the merged row
// r = Σ_{i → r} weights[i] · x[i] is ToMe's size-weighted average.
template <typename T>
void merge_weights(const T* sizes, const int64_t* destination, int64_t n, int64_t rows, T* weights, T* merged_sizes);

}  // namespace kiln::cpu
