// ARPA numbers as KenLM prints them: the fixed-notation fast path must give
// the same text as placing the shortest scientific digits by their exponent.
#include <charconv>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "kiln/models/ngram/arpa_number.hpp"

namespace kiln::ngram {
namespace {

std::string arpa(float value) {
  char buffer[kArpaNumberChars];
  return std::string(buffer, write_arpa_number(buffer, value));
}

// The layout rule spelled out on std::to_chars' scientific digits.
std::string by_exponent(float value) {
  if (value == 0.0f) return "0";
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  const std::string text(buffer, result.ptr);
  const size_t e = text.find('e');
  std::string digits;
  for (char c : text.substr(0, e))
    if (c >= '0' && c <= '9') digits += c;
  const int exponent = std::stoi(text.substr(e + 1));
  std::string out = value < 0 ? "-" : "";
  const int length = static_cast<int>(digits.size());
  if (exponent < -6 || exponent >= 21) {
    out += digits[0];
    if (length > 1) out.append(".").append(digits, 1);
    return out.append("e").append(std::to_string(exponent));
  }
  const int point = exponent + 1;
  if (point <= 0) return out.append("0.").append(static_cast<size_t>(-point), '0').append(digits);
  if (point >= length) return out.append(digits).append(static_cast<size_t>(point - length), '0');
  return out.append(digits, 0, static_cast<size_t>(point)).append(".").append(digits, static_cast<size_t>(point));
}

float from_bits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

TEST(ArpaNumber, PrintsAsKenLM) {
  EXPECT_EQ(arpa(0.0f), "0");
  EXPECT_EQ(arpa(-0.0f), "0");
  EXPECT_EQ(arpa(-1.0f), "-1");
  EXPECT_EQ(arpa(-12.5f), "-12.5");
  EXPECT_EQ(arpa(-0.30103f), "-0.30103");
  EXPECT_EQ(arpa(1.234e-5f), "0.00001234");
  EXPECT_EQ(arpa(1e-6f), "0.000001");
  EXPECT_EQ(arpa(std::nextafter(1e-6f, 0.0f)), "9.999999e-7");
  EXPECT_EQ(arpa(-3.5e-9f), "-3.5e-9");
  EXPECT_EQ(arpa(-99.0f), "-99");
  EXPECT_EQ(arpa(1e7f), "10000000");
  EXPECT_EQ(arpa(123456792.0f), "123456790");  // KenLM's digits then zeros, not the exact integer
  EXPECT_EQ(arpa(1e21f), "1e21");
}

TEST(ArpaNumber, FastPathMatchesTheLayoutRule) {
  // Every binade from 1e-8 to 1e22, both signs, at its ends and at random.
  std::mt19937 rng(7);
  const uint32_t low = 0x322bcc77, high = 0x64878678;  // bits of 1e-8f and 2e22f
  for (uint32_t bits = low; bits < high; bits += 0x00800000) {
    for (uint32_t offset : {0u, 1u, 0x7fffffu, static_cast<uint32_t>(rng() & 0x7fffff)}) {
      for (uint32_t sign : {0u, 0x80000000u}) {
        const float value = from_bits((bits + offset) | sign);
        ASSERT_EQ(arpa(value), by_exponent(value)) << "bits " << std::hex << ((bits + offset) | sign);
      }
    }
  }
  for (int i = 0; i < 200000; ++i) {
    const float value = from_bits(static_cast<uint32_t>(rng()) & 0xff7fffffu);  // finite
    ASSERT_EQ(arpa(value), by_exponent(value)) << value;
  }
}

TEST(ArpaNumber, RefusesWhatIsNotANumber) {
  char buffer[kArpaNumberChars];
  EXPECT_THROW(write_arpa_number(buffer, std::nanf("")), std::exception);
  EXPECT_THROW(write_arpa_number(buffer, INFINITY), std::exception);
}

}  // namespace
}  // namespace kiln::ngram
