#pragma once
// Iterates over every element of a logical shape, giving the element offsets
// (in elements, not bytes) into N strided operands. The innermost dimension
// is a plain loop so the compiler can keep it tight.
#include <array>
#include <cstdint>
#include <vector>

#include "kiln/tensor/shape.hpp"

namespace kiln {

template <size_t N, typename Fn>
void for_each_strided(const Shape& shape, const std::array<Strides, N>& strides, Fn&& fn) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  for (int64_t s : shape)
    if (s == 0) return;
  std::array<int64_t, N> offsets{};
  if (rank == 0) {
    fn(offsets);
    return;
  }
  std::vector<int64_t> index(rank, 0);
  const int64_t inner = shape[rank - 1];
  while (true) {
    std::array<int64_t, N> at = offsets;
    for (int64_t i = 0; i < inner; ++i) {
      fn(at);
      for (size_t k = 0; k < N; ++k) at[k] += strides[k][rank - 1];
    }
    int64_t d = rank - 2;
    for (; d >= 0; --d) {
      ++index[d];
      for (size_t k = 0; k < N; ++k) offsets[k] += strides[k][d];
      if (index[d] < shape[d]) break;
      for (size_t k = 0; k < N; ++k) offsets[k] -= strides[k][d] * shape[d];
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

}  // namespace kiln
