#include "kiln/kernels/cpu/rope.hpp"

#include <cmath>
#include <vector>

namespace kiln::cpu {

namespace {

template <typename T>
void rotate(const T* x, T* y, const int64_t* pos, const RopeShape& s, double theta, bool interleaved, bool inverse) {
  const int64_t d = s.head_dim, half = d / 2, tokens = s.rows * s.length;
  std::vector<double> inverse_frequency(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inverse_frequency[i] = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(d));
  const double sign = inverse ? -1.0 : 1.0;
#pragma omp parallel if (tokens * s.heads * d > 65536)
  {
    std::vector<T> cos_table(static_cast<size_t>(half)), sin_table(static_cast<size_t>(half));
#pragma omp for schedule(static)
    for (int64_t token = 0; token < tokens; ++token) {
      const int64_t t = token % s.length;
      const double p = static_cast<double>(pos[s.positions_per_row ? token : t]);
      for (int64_t i = 0; i < half; ++i) {
        const double angle = p * inverse_frequency[i];
        cos_table[i] = static_cast<T>(std::cos(angle));
        sin_table[i] = static_cast<T>(sign * std::sin(angle));
      }
      const T* c = cos_table.data();
      const T* sn = sin_table.data();
      for (int64_t h = 0; h < s.heads; ++h) {
        const T* xh = x + (token * s.heads + h) * d;
        T* yh = y + (token * s.heads + h) * d;
        if (interleaved) {
#pragma omp simd
          for (int64_t i = 0; i < half; ++i) {
            const T a = xh[2 * i], b = xh[2 * i + 1];
            yh[2 * i] = a * c[i] - b * sn[i];
            yh[2 * i + 1] = a * sn[i] + b * c[i];
          }
        } else {
#pragma omp simd
          for (int64_t i = 0; i < half; ++i) {
            const T a = xh[i], b = xh[i + half];
            yh[i] = a * c[i] - b * sn[i];
            yh[i + half] = a * sn[i] + b * c[i];
          }
        }
      }
    }
  }
}

}  // namespace

void rope(const float* x, float* y, const int64_t* positions, const RopeShape& shape, double theta, bool interleaved,
          bool inverse) {
  rotate(x, y, positions, shape, theta, interleaved, inverse);
}
void rope(const double* x, double* y, const int64_t* positions, const RopeShape& shape, double theta,
          bool interleaved, bool inverse) {
  rotate(x, y, positions, shape, theta, interleaved, inverse);
}

}  // namespace kiln::cpu
