#include "kiln/autograd/ops/elementwise.hpp"

#include <cmath>

#include "kiln/autograd/function.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/kernels/cpu/map.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::sum_to_shape;
using autograd::TensorList;
using cpu::binary_map;
using cpu::unary_map;

namespace {

template <typename Fn>
Tensor binary(const Tensor& a, const Tensor& b, const char* name, Fn fn) {
  return KILN_DISPATCH_FLOATING(a.dtype(), name, [&] { return binary_map<scalar_t>(a, b, name, fn); });
}

template <typename Fn>
Tensor unary(const Tensor& x, const char* name, Fn fn) {
  return KILN_DISPATCH_FLOATING(x.dtype(), name, [&] { return unary_map<scalar_t>(x, fn); });
}

// Gradient products computed without recording (backward of first order only).
Tensor times(const Tensor& a, const Tensor& b) {
  return binary(a, b, "mul", [](auto x, auto y) { return x * y; });
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary(a, b, "add", [](auto x, auto y) { return x + y; });
  return record("add", {a, b}, {out}, [sa = a.shape(), sb = b.shape()](const TensorList& g) {
    return TensorList{sum_to_shape(g[0], sa), sum_to_shape(g[0], sb)};
  })[0];
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary(a, b, "sub", [](auto x, auto y) { return x - y; });
  return record("sub", {a, b}, {out}, [sa = a.shape(), sb = b.shape()](const TensorList& g) {
    Tensor minus = unary(g[0], "neg", [](auto v) { return -v; });
    return TensorList{sum_to_shape(g[0], sa), sum_to_shape(minus, sb)};
  })[0];
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = times(a, b);
  return record("mul", {a, b}, {out}, [a = a.detach(), b = b.detach()](const TensorList& g) {
    return TensorList{sum_to_shape(times(g[0], b), a.shape()), sum_to_shape(times(g[0], a), b.shape())};
  })[0];
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary(a, b, "div", [](auto x, auto y) { return x / y; });
  return record("div", {a, b}, {out}, [a = a.detach(), b = b.detach(), out = out.detach()](const TensorList& g) {
    Tensor ga = binary(g[0], b, "div", [](auto x, auto y) { return x / y; });
    Tensor gb = binary(ga, out, "mul", [](auto x, auto y) { return -x * y; });
    return TensorList{sum_to_shape(ga, a.shape()), sum_to_shape(gb, b.shape())};
  })[0];
}

Tensor neg(const Tensor& x) { return scale(x, -1.0); }

Tensor scale(const Tensor& x, double factor) {
  Tensor out = unary(x, "scale", [factor](auto v) { return v * static_cast<decltype(v)>(factor); });
  return record("scale", {x}, {out}, [factor](const TensorList& g) {
    return TensorList{unary(g[0], "scale", [factor](auto v) { return v * static_cast<decltype(v)>(factor); })};
  })[0];
}

Tensor add_scalar(const Tensor& x, double value) {
  Tensor out = unary(x, "add_scalar", [value](auto v) { return v + static_cast<decltype(v)>(value); });
  return record("add_scalar", {x}, {out}, [](const TensorList& g) { return TensorList{g[0]}; })[0];
}

Tensor exp(const Tensor& x) {
  Tensor out = unary(x, "exp", [](auto v) { return std::exp(v); });
  return record("exp", {x}, {out}, [out = out.detach()](const TensorList& g) { return TensorList{times(g[0], out)}; })[0];
}

Tensor log(const Tensor& x) {
  Tensor out = unary(x, "log", [](auto v) { return std::log(v); });
  return record("log", {x}, {out}, [x = x.detach()](const TensorList& g) {
    return TensorList{binary(g[0], x, "div", [](auto a, auto b) { return a / b; })};
  })[0];
}

Tensor square(const Tensor& x) {
  Tensor out = unary(x, "square", [](auto v) { return v * v; });
  return record("square", {x}, {out}, [x = x.detach()](const TensorList& g) {
    return TensorList{binary(g[0], x, "square", [](auto a, auto b) { return 2 * a * b; })};
  })[0];
}

Tensor tanh(const Tensor& x) {
  Tensor out = unary(x, "tanh", [](auto v) { return std::tanh(v); });
  return record("tanh", {x}, {out}, [out = out.detach()](const TensorList& g) {
    return TensorList{binary(g[0], out, "tanh", [](auto a, auto y) { return a * (1 - y * y); })};
  })[0];
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary(x, "sigmoid", [](auto v) { return 1 / (1 + std::exp(-v)); });
  return record("sigmoid", {x}, {out}, [out = out.detach()](const TensorList& g) {
    return TensorList{binary(g[0], out, "sigmoid", [](auto a, auto y) { return a * y * (1 - y); })};
  })[0];
}

Tensor relu(const Tensor& x) {
  Tensor out = unary(x, "relu", [](auto v) { return v > 0 ? v : decltype(v){0}; });
  return record("relu", {x}, {out}, [x = x.detach()](const TensorList& g) {
    return TensorList{binary(g[0], x, "relu", [](auto a, auto v) { return v > 0 ? a : decltype(a){0}; })};
  })[0];
}

}  // namespace kiln::ops
