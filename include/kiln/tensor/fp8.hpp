#pragma once
// The two 8-bit floating-point formats of FP8 training (Micikevicius et al.,
// "FP8 Formats for Deep Learning"; PyTorch's float8_e4m3fn and float8_e5m2):
// bit-exact conversion from f32 with one round-to-nearest-even step, and
// exact decoding.
//   E4M3: s eeee mmm, bias 7, max 448, no infinities, NaN = S.1111.111
//   E5M2: s eeeee mm, bias 15, max 57344, ±Inf = S.11111.00, NaN otherwise
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

}  // namespace kiln
