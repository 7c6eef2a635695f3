#pragma once
// bfloat16 storage type: the top 16 bits of an IEEE binary32.
#include <bit>
#include <cstdint>

namespace kiln {

struct bf16 {
  uint16_t bits = 0;

  bf16() = default;
  explicit bf16(float value) : bits(round_from(value)) {}
  explicit operator float() const { return std::bit_cast<float>(uint32_t{bits} << 16); }

  // Round to nearest even; NaN stays a (quiet) NaN.
  static uint16_t round_from(float value) {
    const uint32_t u = std::bit_cast<uint32_t>(value);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
    const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>((u + rounding) >> 16);
  }
};

inline float to_float(bf16 v) { return static_cast<float>(v); }

}  // namespace kiln
