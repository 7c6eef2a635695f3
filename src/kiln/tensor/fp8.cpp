#include "kiln/tensor/fp8.hpp"

#include <cmath>
#include <limits>

namespace kiln {

namespace {

struct Layout {
  int mantissa_bits, bias, max_exponent_field;
  double max_finite;
  uint8_t nan_code, max_code;
};

Layout layout(Fp8Format f) {
  return f == Fp8Format::e4m3 ? Layout{3, 7, 15, 448.0, 0x7F, 0x7E} : Layout{2, 15, 30, 57344.0, 0x7F, 0x7B};
}

}  // namespace

float fp8_max(Fp8Format format) { return static_cast<float>(layout(format).max_finite); }

uint8_t fp8_encode(float value, Fp8Format format, Fp8Overflow overflow) {
  const Layout l = layout(format);
  const uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  if (std::isnan(value)) return sign | l.nan_code;
  auto overflowed = [&]() -> uint8_t {
    if (overflow == Fp8Overflow::saturate) return sign | l.max_code;
    return format == Fp8Format::e4m3 ? (sign | l.nan_code) : (sign | 0x7C);
  };
  if (std::isinf(value)) return overflowed();
  // Every step below is exact in double: a is an f32 and q a power of two,
  // so a / q is exact and nearbyint rounds half to even once.
  const double a = std::fabs(static_cast<double>(value));
  const int m = l.mantissa_bits;
  const double min_normal = std::ldexp(1.0, 1 - l.bias);
  if (a < min_normal) {
    const double n = std::nearbyint(a / std::ldexp(1.0, 1 - l.bias - m));
    return sign | static_cast<uint8_t>(n);  // n = 2^m encodes the smallest normal, e = 1, m = 0
  }
  int exponent = 0;
  std::frexp(a, &exponent);
  int e = exponent - 1;  // a = 1.f · 2^e
  double n = std::nearbyint(a / std::ldexp(1.0, e - m));
  if (n == std::ldexp(1.0, m + 1)) {
    ++e;
    n = std::ldexp(1.0, m);
  }
  if (n * std::ldexp(1.0, e - m) > l.max_finite) return overflowed();
  const int field = e + l.bias;
  return sign | static_cast<uint8_t>((field << m) | (static_cast<int>(n) - (1 << m)));
}

float fp8_decode(uint8_t code, Fp8Format format) {
  const Layout l = layout(format);
  const int m = l.mantissa_bits;
  const double sign = (code & 0x80) != 0 ? -1.0 : 1.0;
  const int field = (code & 0x7F) >> m;
  const int mantissa = code & ((1 << m) - 1);
  if (format == Fp8Format::e4m3 && (code & 0x7F) == 0x7F) return std::numeric_limits<float>::quiet_NaN();
  if (format == Fp8Format::e5m2 && field == 31)
    return mantissa == 0 ? static_cast<float>(sign * std::numeric_limits<double>::infinity())
                         : std::numeric_limits<float>::quiet_NaN();
  if (field == 0) return static_cast<float>(sign * mantissa * std::ldexp(1.0, 1 - l.bias - m));
  return static_cast<float>(sign * (1.0 + mantissa / static_cast<double>(1 << m)) * std::ldexp(1.0, field - l.bias));
}

}  // namespace kiln
