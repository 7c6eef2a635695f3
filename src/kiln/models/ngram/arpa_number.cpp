#include "kiln/models/ngram/arpa_number.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "kiln/base/error.hpp"

namespace kiln::ngram {

namespace {

// Below 2^24 every integer is a float, so no shortest form rounds digits off
// the integer part, and fixed notation's shortest round trip has exactly the
// digits of the scientific one. From 1e-6 up the decimal exponent is ≥ −6.
constexpr float kFixedLow = 1e-6f, kFixedHigh = 1e7f;

// The general layout: the shortest digits from scientific notation, placed
// by their decimal exponent.
char* write_by_exponent(char* out, float value) {
  char buffer[32];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  KILN_CHECK(error == std::errc(), "write_arpa: cannot write the number {}", value);
  const char* e = std::find(buffer, end, 'e');
  char digits[16];
  int length = 0;
  for (const char* c = buffer; c < e; ++c)
    if (*c >= '0' && *c <= '9') digits[length++] = *c;
  int exponent = 0;
  std::from_chars(e + 1 + (e[1] == '+'), end, exponent);
  if (value < 0) *out++ = '-';
  if (exponent < -6 || exponent >= 21) {
    *out++ = digits[0];
    if (length > 1) {
      *out++ = '.';
      out = std::copy(digits + 1, digits + length, out);
    }
    *out++ = 'e';
    return std::to_chars(out, out + 8, exponent).ptr;
  }
  const int point = exponent + 1;  // digits before the decimal point
  if (point <= 0) {
    *out++ = '0';
    *out++ = '.';
    out = std::fill_n(out, -point, '0');
    return std::copy(digits, digits + length, out);
  }
  if (point >= length) return std::fill_n(std::copy(digits, digits + length, out), point - length, '0');
  out = std::copy(digits, digits + point, out);
  *out++ = '.';
  return std::copy(digits + point, digits + length, out);
}

}  // namespace

char* write_arpa_number(char* out, float value) {
  KILN_CHECK(std::isfinite(value), "write_arpa: cannot write the number {}", value);
  if (value == 0.0f) {  // no "-0" (lmplz never produces one)
    *out = '0';
    return out + 1;
  }
  const float magnitude = std::fabs(value);
  if (magnitude >= kFixedLow && magnitude < kFixedHigh)
    return std::to_chars(out, out + kArpaNumberChars, value, std::chars_format::fixed).ptr;
  return write_by_exponent(out, value);
}

}  // namespace kiln::ngram
