#include "kiln/autograd/ops/activation.hpp"

#include <cmath>

#include "kiln/autograd/function.hpp"
#include "kiln/kernels/cpu/fast_math.hpp"
#include "kiln/kernels/cpu/map.hpp"
#include "kiln/kernels/cpu/swiglu.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

template <typename T>
T gelu_value(T x, bool tanh_form) {
  if (tanh_form) {
    const T inner = static_cast<T>(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
    return T(0.5) * x * (T(1) + cpu::fast_tanh(inner));
  }
  return T(0.5) * x * (T(1) + std::erf(x * static_cast<T>(kInvSqrt2)));
}

template <typename T>
T gelu_derivative(T x, bool tanh_form) {
  if (tanh_form) {
    const T inner = static_cast<T>(kSqrt2OverPi) * (x + T(0.044715) * x * x * x);
    const T t = cpu::fast_tanh(inner);
    const T dinner = static_cast<T>(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * x * x);
    return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * dinner;
  }
  const T cdf = T(0.5) * (T(1) + std::erf(x * static_cast<T>(kInvSqrt2)));
  return cdf + x * static_cast<T>(kInvSqrt2Pi) * std::exp(T(-0.5) * x * x);
}

template <typename T>
T sigmoid_of(T x) {
  return cpu::fast_sigmoid(x);
}


}  // namespace

Tensor gelu(const Tensor& x, GeluApproximation approximation) {
  const bool tanh_form = approximation == GeluApproximation::tanh;
  Tensor out = KILN_DISPATCH_FLOATING(x.dtype(), "gelu", [&] {
    return cpu::unary_map<scalar_t>(x, [tanh_form](scalar_t v) { return gelu_value(v, tanh_form); });
  });
  return record("gelu", {x}, {out}, [x = x.detach(), tanh_form](const TensorList& g) {
    return TensorList{KILN_DISPATCH_FLOATING(x.dtype(), "gelu", [&] {
      return cpu::binary_map<scalar_t>(g[0], x, "gelu",
                                       [tanh_form](scalar_t gv, scalar_t v) { return gv * gelu_derivative(v, tanh_form); });
    })};
  })[0];
}

Tensor silu(const Tensor& x) {
  Tensor out = KILN_DISPATCH_FLOATING(x.dtype(), "silu", [&] {
    return cpu::unary_map<scalar_t>(x, [](scalar_t v) { return v * sigmoid_of(v); });
  });
  return record("silu", {x}, {out}, [x = x.detach()](const TensorList& g) {
    return TensorList{KILN_DISPATCH_FLOATING(x.dtype(), "silu", [&] {
      return cpu::binary_map<scalar_t>(g[0], x, "silu", [](scalar_t gv, scalar_t v) {
        const scalar_t s = sigmoid_of(v);
        return gv * s * (scalar_t(1) + v * (scalar_t(1) - s));
      });
    })};
  })[0];
}

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  check_same_shape(gate, up, "swiglu");
  Tensor out = KILN_DISPATCH_FLOATING(gate.dtype(), "swiglu", [&] {
    return cpu::binary_map<scalar_t>(gate, up, "swiglu", [](scalar_t a, scalar_t b) { return a * sigmoid_of(a) * b; });
  });
  return record("swiglu", {gate, up}, {out}, [gate = gate.detach(), up = up.detach()](const TensorList& g) {
    const Tensor gg = g[0].contiguous(), a = gate.contiguous(), b = up.contiguous();
    Tensor d_gate = Tensor::empty(a.shape(), a.dtype()), d_up = Tensor::empty(a.shape(), a.dtype());
    KILN_DISPATCH_FLOATING(a.dtype(), "swiglu", [&] {
      cpu::swiglu_backward(gg.data<scalar_t>(), a.data<scalar_t>(), b.data<scalar_t>(), d_gate.data<scalar_t>(),
                      d_up.data<scalar_t>(), a.numel());
    });
    return TensorList{d_gate, d_up};
  })[0];
}

}  // namespace kiln::ops
