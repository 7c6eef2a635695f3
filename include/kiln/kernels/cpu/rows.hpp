#pragma once
// Row gathers and scatters of [rows, d] tables (embedding lookups and their
// gradients). Ids must already be checked to lie inside the table.
#include <cstddef>
#include <cstdint>

namespace kiln::cpu {

// out[i] = table[ids[i]] for i < n, rows of row_bytes bytes (any dtype).
void gather_rows(const void* table, const int64_t* ids, int64_t n, size_t row_bytes, void* out);

// out[ids[i]] += src[i] for i < n, rows of d elements (f32 or f64); rows that
// repeat accumulate in index order.
template <typename T>
void scatter_add_rows(const T* src, const int64_t* ids, int64_t n, int64_t d, T* out);

}  // namespace kiln::cpu
