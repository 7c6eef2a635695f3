#pragma once
// Calls fn(T{}) with T the C++ type of a runtime dtype, for code that is
// generic over every storage type (copies, conversions, printing).
#include "kiln/base/error.hpp"
#include "kiln/tensor/dtype.hpp"

namespace kiln {

template <typename Fn>
decltype(auto) visit_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::f32: return fn(float{});
    case DType::f64: return fn(double{});
    case DType::bf16: return fn(bf16{});
    case DType::i32: return fn(int32_t{});
    case DType::i64: return fn(int64_t{});
    case DType::u8: return fn(uint8_t{});
  }
  fail("unknown dtype");
}

template <typename T>
double to_double(T v) {
  if constexpr (std::is_same_v<T, bf16>) return static_cast<double>(static_cast<float>(v));
  else return static_cast<double>(v);
}

template <typename T>
T from_double(double v) {
  if constexpr (std::is_same_v<T, bf16>) return bf16(static_cast<float>(v));
  else return static_cast<T>(v);
}

template <typename To, typename From>
To convert_scalar(From v) {
  if constexpr (std::is_same_v<To, From>) return v;
  else if constexpr (std::is_same_v<To, bf16>) return bf16(static_cast<float>(to_double(v)));
  else if constexpr (std::is_same_v<From, bf16>) return static_cast<To>(static_cast<float>(v));
  else return static_cast<To>(v);
}

}  // namespace kiln
