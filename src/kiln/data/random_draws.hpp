#pragma once
// Private to the data layer: the random draws of the generated vision sets
// (canvases, OCR lines, token dropping). Each set draws from its own Philox
// stream, so a sample is a pure function of (seed, split, index) and never
// depends on what was drawn before it.
#include <array>
#include <cmath>
#include <cstdint>

#include "kiln/base/philox.hpp"

namespace kiln::data {

// Uniform integer in [low, high] from 32 random bits (multiply-shift: no
// modulo, and the bias for ranges of a few hundred is below 1e-7).
inline int64_t uniform_int(uint32_t bits, int64_t low, int64_t high) {
  const auto span = static_cast<uint64_t>(high - low + 1);
  return low + static_cast<int64_t>((uint64_t{bits} * span) >> 32);
}

// Uniform double in [low, high) from 32 random bits.
inline double uniform_real(uint32_t bits, double low, double high) {
  return low + (high - low) * (static_cast<double>(bits) * 0x1.0p-32);
}

// A run of draws from one Philox stream, for samplers that need a variable
// number of them (rejection sampling): counter `first`, `first` + 1, …
class PhiloxDraws {
 public:
  PhiloxDraws(const PhiloxKey& key, uint64_t first) : key_(key), next_(first) {}

  // Uniform in (0, 1) with 53 random bits.
  double uniform() {
    const std::array<uint32_t, 4> bits = philox_block(key_, next_++);
    const uint64_t mantissa = ((uint64_t{bits[0]} << 32) | bits[1]) >> 11;
    return (static_cast<double>(mantissa) + 0.5) * 0x1.0p-53;
  }

  // Standard normal (Box–Muller on two uniforms).
  double normal() {
    const double radius = std::sqrt(-2.0 * std::log(uniform()));
    return radius * std::cos(6.283185307179586477 * uniform());
  }

  // Gamma(shape, 1) by Marsaglia and Tsang's squeeze-and-reject method; a
  // shape below 1 is boosted to shape + 1 and scaled by U^(1/shape).
  double gamma(double shape) {
    if (shape < 1) {
      const double boosted = gamma(shape + 1);
      return boosted * std::pow(uniform(), 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      const double x = normal();
      const double v = std::pow(1.0 + c * x, 3);
      if (v <= 0) continue;
      if (std::log(uniform()) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  }

  // Beta(a, b) as X/(X+Y) with X ~ Gamma(a), Y ~ Gamma(b).
  double beta(double a, double b) {
    const double x = gamma(a), y = gamma(b);
    return x / (x + y);
  }

 private:
  PhiloxKey key_;
  uint64_t next_;
};

}  // namespace kiln::data
