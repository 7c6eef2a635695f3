#include "kiln/autograd/ops/rope.hpp"

#include <cmath>
#include <vector>

#include "kiln/autograd/function.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

// Rotates every head of x (viewed [rows, T, H, D]) by ±angle.
template <typename T>
void rotate(const T* x, T* y, const int64_t* pos, int64_t rows, int64_t length, int64_t heads, int64_t d,
            bool positions_per_row, double theta, bool interleaved, double sign) {
  const int64_t half = d / 2;
  std::vector<double> inverse_frequency(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inverse_frequency[i] = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(d));
#pragma omp parallel for collapse(2) if (rows * length * heads * d > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t t = 0; t < length; ++t) {
      const double p = static_cast<double>(pos[positions_per_row ? r * length + t : t]);
      std::vector<T> cos_table(static_cast<size_t>(half)), sin_table(static_cast<size_t>(half));
      for (int64_t i = 0; i < half; ++i) {
        // Angles in f64, rounded once to the compute type: long contexts keep
        // their precision (an f32 angle table loses it at large positions).
        const double angle = p * inverse_frequency[i];
        cos_table[i] = static_cast<T>(std::cos(angle));
        sin_table[i] = static_cast<T>(sign * std::sin(angle));
      }
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t base = ((r * length + t) * heads + h) * d;
        for (int64_t i = 0; i < half; ++i) {
          const int64_t ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
          const T a = x[base + ia], b = x[base + ib];
          y[base + ia] = a * cos_table[i] - b * sin_table[i];
          y[base + ib] = a * sin_table[i] + b * cos_table[i];
        }
      }
    }
  }
}

struct RopeGeometry {
  int64_t rows, length, heads, d;
  bool per_row;
};

RopeGeometry geometry(const Tensor& x, const Tensor& positions) {
  KILN_CHECK(x.dim() == 3 || x.dim() == 4, "rope: input must be [B, T, H, D] or [T, H, D], got {}", x.describe());
  KILN_CHECK(x.size(-1) % 2 == 0, "rope: head dimension of {} must be even", x.describe());
  RopeGeometry g{x.dim() == 4 ? x.size(0) : 1, x.size(-3), x.size(-2), x.size(-1), false};
  KILN_CHECK(positions.dtype() == DType::i64 || positions.dtype() == DType::i32,
             "rope: positions must be integers, got {}", positions.describe());
  if (positions.dim() == 2) {
    KILN_CHECK(positions.size(0) == g.rows && positions.size(1) == g.length,
               "rope: positions {} do not match input {}", positions.describe(), x.describe());
    g.per_row = true;
  } else {
    KILN_CHECK(positions.dim() == 1 && positions.size(0) == g.length, "rope: positions {} do not match input {}",
               positions.describe(), x.describe());
  }
  return g;
}

Tensor apply(const Tensor& x_in, const Tensor& pos, const RopeGeometry& g, double theta, bool interleaved,
             double sign) {
  const Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  KILN_DISPATCH_FLOATING(x.dtype(), "rope", [&] {
    rotate<scalar_t>(x.data<scalar_t>(), y.data<scalar_t>(), pos.data<int64_t>(), g.rows, g.length, g.heads, g.d,
                     g.per_row, theta, interleaved, sign);
  });
  return y;
}

}  // namespace

Tensor rope(const Tensor& x, const Tensor& positions, double theta, bool interleaved) {
  const RopeGeometry g = geometry(x, positions);
  const Tensor pos = positions.to(DType::i64).contiguous();
  Tensor out = apply(x, pos, g, theta, interleaved, 1.0);
  return record("rope", {x}, {out}, [pos, g, theta, interleaved](const TensorList& grads) {
    return TensorList{apply(grads[0], pos, g, theta, interleaved, -1.0)};
  })[0];
}

}  // namespace kiln::ops
