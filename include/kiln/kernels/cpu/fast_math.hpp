#pragma once
// Branch-free elementary functions that the compiler vectorises inside
// `#pragma omp simd` loops (libm's expf/tanhf are calls it cannot inline).
// f32 accuracy: exp within 2 ulp on [−87, 88] (Cephes' polynomial after
// range reduction), exactly 0 below; the double overloads are libm's, for
// gradient checks.
#include <bit>
#include <cmath>
#include <cstdint>

namespace kiln::cpu {

inline float fast_exp(float x) {
  const bool underflow = x < -87.33654f;
  x = x > 88.3762626f ? 88.3762626f : x;
  x = x < -87.33654f ? -87.33654f : x;
  const float n = std::nearbyint(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const float scale = std::bit_cast<float>(static_cast<int32_t>(n + 127.0f) << 23);
  return underflow ? 0.0f : y * scale;
}
inline double fast_exp(double x) { return std::exp(x); }

inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }
inline double fast_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// tanh(x) = 1 − 2 / (e^{2x} + 1), saturating cleanly at ±1.
inline float fast_tanh(float x) { return 1.0f - 2.0f / (fast_exp(2.0f * x) + 1.0f); }
inline double fast_tanh(double x) { return std::tanh(x); }

}  // namespace kiln::cpu
