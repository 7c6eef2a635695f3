#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kiln/tensor/bf16.hpp"

namespace kiln {

enum class DType : uint8_t { f32, f64, bf16, i32, i64, u8 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::bf16: return 2;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::u8: return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
  }
  return "?";
}

constexpr bool is_floating(DType t) { return t == DType::f32 || t == DType::f64 || t == DType::bf16; }

template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<bf16> { static constexpr DType value = DType::bf16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <typename T> inline constexpr DType dtype_v = dtype_of<T>::value;

}  // namespace kiln

// Runs the body with `scalar_t` bound to float or double, the two dtypes our
// differentiable kernels are written for (f64 exists for gradient checks).
#define KILN_DISPATCH_FLOATING(dtype, op_name, ...)                                              \
  [&] {                                                                                           \
    switch (dtype) {                                                                              \
      case ::kiln::DType::f32: { using scalar_t = float; return __VA_ARGS__(); }                  \
      case ::kiln::DType::f64: { using scalar_t = double; return __VA_ARGS__(); }                 \
      default: ::kiln::fail("{}: dtype {} is not supported (f32 or f64)", op_name,               \
                            ::kiln::dtype_name(dtype));                                           \
    }                                                                                             \
  }()
