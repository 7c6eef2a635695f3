#include "kiln/kernels/cpu/token_merging.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace kiln::cpu {

namespace {

// Rows of `metric` scaled to unit length (zero rows stay zero).
template <typename T>
void normalise_rows(const T* metric, int64_t rows, int64_t dim, T* unit) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* row = metric + i * dim;
    T sum = 0;
    for (int64_t c = 0; c < dim; ++c) sum += row[c] * row[c];
    const T inverse = sum > T{0} ? T{1} / std::sqrt(sum) : T{0};
    for (int64_t c = 0; c < dim; ++c) unit[i * dim + c] = row[c] * inverse;
  }
}

template <typename T>
void match_one_sequence(const T* unit, const TokenMatchShape& s, int64_t first_row, int64_t* destination,
                        std::vector<T>& score, std::vector<int64_t>& best, std::vector<int64_t>& order) {
  const int64_t t = s.tokens, a_count = (t + 1) / 2, b_count = t / 2;
  for (int64_t a = 0; a < a_count; ++a) {
    score[a] = -std::numeric_limits<T>::infinity();
    best[a] = 0;
    if (s.protect_first && a == 0) continue;
    const T* ua = unit + 2 * a * s.dim;
    for (int64_t b = 0; b < b_count; ++b) {
      const T* ub = unit + (2 * b + 1) * s.dim;
      T dot = 0;
      for (int64_t c = 0; c < s.dim; ++c) dot += ua[c] * ub[c];
      if (dot > score[a]) {  // strict: ties keep the smallest b; NaN never wins
        score[a] = dot;
        best[a] = b;
      }
    }
  }
  std::iota(order.begin(), order.begin() + a_count, int64_t{0});
  std::stable_sort(order.begin(), order.begin() + a_count,
                   [&](int64_t x, int64_t y) { return score[x] > score[y]; });
  const int64_t unmerged = a_count - s.merges;
  std::vector<bool> source(static_cast<size_t>(a_count), false);
  for (int64_t k = 0; k < s.merges; ++k) source[order[k]] = true;
  int64_t next = 0;
  for (int64_t a = 0; a < a_count; ++a)
    destination[2 * a] = first_row + (source[a] ? unmerged + best[a] : next++);
  for (int64_t b = 0; b < b_count; ++b) destination[2 * b + 1] = first_row + unmerged + b;
}

}  // namespace

template <typename T>
void bipartite_soft_matching(const T* metric, const TokenMatchShape& s, int64_t* destination) {
  const int64_t t = s.tokens, merged_tokens = t - s.merges;
  if (s.merges == 0) {  // nothing merges, nothing moves (ToMe's do_nothing)
    for (int64_t i = 0; i < s.batch * t; ++i) destination[i] = i;
    return;
  }
#pragma omp parallel if (s.batch >= 16)  // one small sequence is not worth waking threads
  {
    std::vector<T> unit(static_cast<size_t>(t * s.dim)), score(static_cast<size_t>(t));
    std::vector<int64_t> best(static_cast<size_t>(t)), order(static_cast<size_t>(t));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < s.batch; ++n) {
      normalise_rows(metric + n * t * s.dim, t, s.dim, unit.data());
      match_one_sequence(unit.data(), s, n * merged_tokens, destination + n * t, score, best, order);
    }
  }
}

template <typename T>
void merge_weights(const T* sizes, const int64_t* destination, int64_t n, int64_t rows, T* weights, T* merged_sizes) {
  std::fill(merged_sizes, merged_sizes + rows, T{0});
  for (int64_t i = 0; i < n; ++i) merged_sizes[destination[i]] += sizes != nullptr ? sizes[i] : T{1};
  for (int64_t i = 0; i < n; ++i) weights[i] = (sizes != nullptr ? sizes[i] : T{1}) / merged_sizes[destination[i]];
}

template void bipartite_soft_matching<float>(const float*, const TokenMatchShape&, int64_t*);
template void bipartite_soft_matching<double>(const double*, const TokenMatchShape&, int64_t*);
template void merge_weights<float>(const float*, const int64_t*, int64_t, int64_t, float*, float*);
template void merge_weights<double>(const double*, const int64_t*, int64_t, int64_t, double*, double*);

}  // namespace kiln::cpu
