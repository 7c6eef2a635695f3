#pragma once
// The two 8-bit floating-point formats of FP8 training (Micikevicius et al.,
// "FP8 Formats for Deep Learning"; PyTorch's float8_e4m3fn and float8_e5m2):
// bit-exact conversion from f32 with one round-to-nearest-even step, and
// exact decoding.
//   E4M3: s eeee mmm, bias 7, max 448, no infinities, NaN = S.1111.111
//   E5M2: s eeeee mm, bias 15, max 57344, ±Inf = S.11111.00, NaN otherwise
#include <bit>
#include <cmath>
#include <cstdint>

namespace kiln {

enum class Fp8Format { e4m3, e5m2 };

// What a value beyond the largest finite one becomes: ±max (the default, as
// CUDA casts and DeepSeek's scaled quantiser behave), or NaN for E4M3 / ±Inf
// for E5M2 (PyTorch's CPU cast).
enum class Fp8Overflow { saturate, non_saturating };

uint8_t fp8_encode(float value, Fp8Format format, Fp8Overflow overflow = Fp8Overflow::saturate);
float fp8_decode(uint8_t code, Fp8Format format);
float fp8_max(Fp8Format format);  // 448 or 57344

// The hot path of the quantiser: E4M3, saturating, by integer rounding of the
// f32 bit pattern — equal to fp8_encode(value, e4m3, saturate) for every input.
inline uint8_t fp8_encode_e4m3(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80);
  const float a = std::fabs(value);
  if (!(a == a)) return sign | 0x7F;            // NaN
  if (a >= 464.0f) return sign | 0x7E;          // rounds beyond 448: saturate
  if (a < 0.015625f) return sign | static_cast<uint8_t>(std::nearbyint(a * 512.0f));  // subnormal quantum 2^-9
  uint32_t u = std::bit_cast<uint32_t>(a);
  u += 0x7FFFFu + ((u >> 20) & 1u);             // round half to even at 3 mantissa bits
  const uint32_t exponent = (u >> 23) - 127 + 7, mantissa = (u >> 20) & 7u;
  return sign | static_cast<uint8_t>((exponent << 3) | mantissa);
}

}  // namespace kiln
