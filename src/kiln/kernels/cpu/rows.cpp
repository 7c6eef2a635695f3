#include "kiln/kernels/cpu/rows.hpp"

#include <cstring>

namespace kiln::cpu {

void gather_rows(const void* table, const int64_t* ids, int64_t n, size_t row_bytes, void* out) {
  const auto* src = static_cast<const std::byte*>(table);
  auto* dst = static_cast<std::byte*>(out);
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(dst + static_cast<size_t>(i) * row_bytes, src + static_cast<size_t>(ids[i]) * row_bytes, row_bytes);
}

template <typename T>
void scatter_add_rows(const T* src, const int64_t* ids, int64_t n, int64_t d, T* out) {
  for (int64_t i = 0; i < n; ++i) {
    T* row = out + ids[i] * d;
    const T* from = src + i * d;
    for (int64_t j = 0; j < d; ++j) row[j] += from[j];
  }
}

template void scatter_add_rows<float>(const float*, const int64_t*, int64_t, int64_t, float*);
template void scatter_add_rows<double>(const double*, const int64_t*, int64_t, int64_t, double*);

}  // namespace kiln::cpu
