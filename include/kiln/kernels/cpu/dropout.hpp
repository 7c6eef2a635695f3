#pragma once
// Inverted dropout with a counter-based mask: element i is kept when
// uniform(Philox(key, i / 4)[i % 4]) ≥ p, and kept elements are scaled by
// 1/(1−p). The same key gives the same mask in forward and backward, so the
// mask is never stored.
#include <cstdint>

#include "kiln/base/philox.hpp"

namespace kiln::cpu {

// y[i] = kept(i) ? x[i] / (1 − p) : 0, for f32 or f64 buffers of n elements.
template <typename T>
void dropout_mask(const T* x, T* y, int64_t n, double p, const PhiloxKey& key);

}  // namespace kiln::cpu
