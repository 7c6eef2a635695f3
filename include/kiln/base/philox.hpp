#pragma once
// Philox4x32-10 counter-based generator (Salmon et al., SC'11). A random
// number is a pure function of (key, counter), so dropout masks are the same
// when a checkpointed segment is recomputed and on every rank, with no state.
#include <array>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

namespace kiln {

struct PhiloxKey {
  uint64_t seed = 0;
  uint64_t stream = 0;  // e.g. (step, layer, site) hashed by the caller
};

inline std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t{kMul0} * counter[0];
    const uint64_t p1 = uint64_t{kMul1} * counter[2];
    counter = {static_cast<uint32_t>(p1 >> 32) ^ counter[1] ^ key[0], static_cast<uint32_t>(p1),
               static_cast<uint32_t>(p0 >> 32) ^ counter[3] ^ key[1], static_cast<uint32_t>(p0)};
    key[0] += kWeyl0;
    key[1] += kWeyl1;
  }
  return counter;
}

// Four uniform 32-bit words for block `index` of the stream named by `key`.
inline std::array<uint32_t, 4> philox_block(const PhiloxKey& key, uint64_t index) {
  return philox4x32({static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32),
                     static_cast<uint32_t>(key.stream), static_cast<uint32_t>(key.stream >> 32)},
                    {static_cast<uint32_t>(key.seed), static_cast<uint32_t>(key.seed >> 32)});
}

// Uniform float in [0, 1) from 24 random bits.
inline float uniform_from_bits(uint32_t bits) { return static_cast<float>(bits >> 8) * 0x1.0p-24f; }

// Uniform float for element `i` of the stream.
inline float philox_uniform(const PhiloxKey& key, uint64_t i) {
  return uniform_from_bits(philox_block(key, i / 4)[i % 4]);
}

// A permutation of 0..n−1 (Fisher–Yates, one 64-bit draw per position), the
// same for the same key on every machine: an epoch's order of a data set.
inline std::vector<int64_t> philox_permutation(int64_t n, const PhiloxKey& key) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  for (int64_t i = n - 1; i > 0; --i) {
    const auto bits = philox_block(key, static_cast<uint64_t>(i));
    const uint64_t r = ((uint64_t{bits[0]} << 32) | bits[1]) % static_cast<uint64_t>(i + 1);
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(r)]);
  }
  return order;
}

}  // namespace kiln

#include <cmath>

namespace kiln {

// Standard normal for element `i` of the stream (Box–Muller on two uniforms
// of the same Philox block, so element i never depends on other elements).
inline float philox_normal(const PhiloxKey& key, uint64_t i) {
  const std::array<uint32_t, 4> bits = philox_block(key, i);
  const float u1 = (static_cast<float>(bits[0] >> 8) + 1.0f) * 0x1.0p-24f;  // (0, 1]
  const float u2 = uniform_from_bits(bits[1]);
  return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853071795864769f * u2);
}

}  // namespace kiln
