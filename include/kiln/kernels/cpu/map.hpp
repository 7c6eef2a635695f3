#pragma once
// Elementwise maps over f32/f64 tensors of any strides, with NumPy
// broadcasting for binary maps. Contiguous same-shape operands take a flat
// loop the compiler vectorises; everything else walks strides.
#include "kiln/tensor/strided.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::cpu {

template <typename T, typename Fn>
Tensor unary_map(const Tensor& x, Fn fn) {
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  T* o = out.data<T>();
  const T* p = x.data<T>();
  if (x.is_contiguous()) {
    const int64_t n = x.numel();
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) o[i] = fn(p[i]);
    return out;
  }
  int64_t i = 0;
  for_each_strided<1>(x.shape(), {x.strides()}, [&](const std::array<int64_t, 1>& off) { o[i++] = fn(p[off[0]]); });
  return out;
}

template <typename T, typename Fn>
Tensor binary_map(const Tensor& a, const Tensor& b, const char* op_name, Fn fn) {
  check_same_dtype(a, b, op_name);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op_name);
  Tensor out = Tensor::empty(shape, a.dtype());
  T* o = out.data<T>();
  if (a.shape() == shape && b.shape() == shape && a.is_contiguous() && b.is_contiguous()) {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const int64_t n = out.numel();
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) o[i] = fn(pa[i], pb[i]);
    return out;
  }
  const Tensor ea = a.expand(shape), eb = b.expand(shape);
  const T* pa = ea.data<T>();
  const T* pb = eb.data<T>();
  int64_t i = 0;
  for_each_strided<2>(shape, {ea.strides(), eb.strides()},
                      [&](const std::array<int64_t, 2>& off) { o[i++] = fn(pa[off[0]], pb[off[1]]); });
  return out;
}

}  // namespace kiln::cpu
