#pragma once
// Test operands: n standard-normal floats from Philox (seed, stream), the
// same values on every machine and run.
#include <cstdint>
#include <vector>

#include "kiln/base/philox.hpp"

namespace kiln::testing {

inline std::vector<float> random_values(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = philox_normal({seed, stream}, i);
  return v;
}

}  // namespace kiln::testing
