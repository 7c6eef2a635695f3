#include "kiln/kernels/cpu/interpolate.hpp"

#include <algorithm>
#include <cmath>

namespace kiln::cpu {

namespace {

// Keys' cubic convolution kernel as PyTorch writes it (upsample_bicubic2d's
// get_cubic_upsample_coefficients): taps at −1, 0, 1, 2 for offset t ∈ [0, 1).
void cubic_weights(double t, double* w) {
  constexpr double A = -0.75;
  const auto near = [](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };  // |x| ≤ 1
  const auto far = [](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };  // 1 < |x| < 2
  w[0] = far(t + 1);
  w[1] = near(t);
  w[2] = near(1 - t);
  w[3] = far(2 - t);
}

}  // namespace

ResizeTaps resize_taps(int64_t in, int64_t out, Interpolation mode) {
  ResizeTaps r{in, out, mode == Interpolation::linear ? 2 : 4, {}, {}};
  r.index.resize(static_cast<size_t>(out * r.taps));
  r.weight.resize(r.index.size());
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t* index = &r.index[static_cast<size_t>(o * r.taps)];
    double* weight = &r.weight[static_cast<size_t>(o * r.taps)];
    const double source = (static_cast<double>(o) + 0.5) * scale - 0.5;
    if (mode == Interpolation::linear) {
      const double s = std::max(source, 0.0);
      const int64_t i0 = std::min(static_cast<int64_t>(std::floor(s)), in - 1);
      const double t = std::clamp(s - static_cast<double>(i0), 0.0, 1.0);
      index[0] = i0;
      index[1] = std::min(i0 + 1, in - 1);
      weight[0] = 1 - t;
      weight[1] = t;
    } else {
      const double floor = std::floor(source);
      const auto i0 = static_cast<int64_t>(floor);
      cubic_weights(source - floor, weight);
      for (int64_t k = 0; k < 4; ++k) index[k] = std::clamp(i0 - 1 + k, int64_t{0}, in - 1);
    }
  }
  return r;
}

template <typename T>
void resize_axis(const T* x, T* y, int64_t outer, int64_t inner, const ResizeTaps& r) {
  for (int64_t a = 0; a < outer; ++a)
    for (int64_t o = 0; o < r.out; ++o) {
      T* dst = y + (a * r.out + o) * inner;
      std::fill(dst, dst + inner, T{0});
      for (int64_t k = 0; k < r.taps; ++k) {
        const auto at = static_cast<size_t>(o * r.taps + k);
        const T* src = x + (a * r.in + r.index[at]) * inner;
        const auto w = static_cast<T>(r.weight[at]);
        for (int64_t b = 0; b < inner; ++b) dst[b] += w * src[b];
      }
    }
}

template <typename T>
void resize_axis_transpose(const T* grad_y, T* grad_x, int64_t outer, int64_t inner, const ResizeTaps& r) {
  std::fill(grad_x, grad_x + outer * r.in * inner, T{0});
  for (int64_t a = 0; a < outer; ++a)
    for (int64_t o = 0; o < r.out; ++o) {
      const T* src = grad_y + (a * r.out + o) * inner;
      for (int64_t k = 0; k < r.taps; ++k) {
        const auto at = static_cast<size_t>(o * r.taps + k);
        T* dst = grad_x + (a * r.in + r.index[at]) * inner;
        const auto w = static_cast<T>(r.weight[at]);
        for (int64_t b = 0; b < inner; ++b) dst[b] += w * src[b];
      }
    }
}

template void resize_axis<float>(const float*, float*, int64_t, int64_t, const ResizeTaps&);
template void resize_axis<double>(const double*, double*, int64_t, int64_t, const ResizeTaps&);
template void resize_axis_transpose<float>(const float*, float*, int64_t, int64_t, const ResizeTaps&);
template void resize_axis_transpose<double>(const double*, double*, int64_t, int64_t, const ResizeTaps&);

}  // namespace kiln::cpu
