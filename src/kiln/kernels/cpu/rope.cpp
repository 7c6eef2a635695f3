#include "kiln/kernels/cpu/rope.hpp"

#include <cmath>

#include "kiln/base/error.hpp"

namespace kiln::cpu {

namespace {

template <typename T>
void rotate(const T* x, T* y, const int64_t* pos, const RopeShape& s, const RopeSlots& slots, bool inverse) {
  const int64_t d = s.head_dim, half = d / 2, tokens = s.rows * s.length;
  KILN_CHECK(slots.pairs() == half, "rope: slot table has {} pairs for head_dim {}", slots.pairs(), d);
  // Offsets of each slot's position row: pos is [axes, tokens] (per row) or [axes, length].
  const int64_t axis_stride = s.positions_per_row ? tokens : s.length;
  std::vector<int64_t> axis_offset(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    KILN_CHECK(slots.axis[i] >= 0 && slots.axis[i] < slots.axes, "rope: slot {} reads axis {} of {}", i,
               slots.axis[i], slots.axes);
    axis_offset[i] = slots.axis[i] * axis_stride;
  }
  const double* frequency = slots.inv_freq.data();
  const double sign = inverse ? -1.0 : 1.0;
#pragma omp parallel if (tokens * s.heads * d > 65536)
  {
    std::vector<T> cos_table(static_cast<size_t>(half)), sin_table(static_cast<size_t>(half));
#pragma omp for schedule(static)
    for (int64_t token = 0; token < tokens; ++token) {
      const int64_t column = s.positions_per_row ? token : token % s.length;
      for (int64_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(pos[axis_offset[i] + column]) * frequency[i];
        cos_table[i] = static_cast<T>(std::cos(angle));
        sin_table[i] = static_cast<T>(sign * std::sin(angle));
      }
      const T* c = cos_table.data();
      const T* sn = sin_table.data();
      for (int64_t h = 0; h < s.heads; ++h) {
        const T* xh = x + (token * s.heads + h) * d;
        T* yh = y + (token * s.heads + h) * d;
        if (slots.interleaved) {
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

double ladder(double theta, int64_t step, int64_t denominator) {
  return std::pow(theta, -static_cast<double>(step) / static_cast<double>(denominator));
}

}  // namespace

RopeSlots text_rope_slots(int64_t head_dim, double theta, bool interleaved) {
  KILN_CHECK(head_dim > 0 && head_dim % 2 == 0, "rope: head_dim must be positive and even, got {}", head_dim);
  RopeSlots slots{1, {}, {}, interleaved};
  for (int64_t j = 0; j < head_dim / 2; ++j) {
    slots.axis.push_back(0);
    slots.inv_freq.push_back(ladder(theta, 2 * j, head_dim));
  }
  return slots;
}

RopeSlots vision_rope_slots(int64_t head_dim, double theta) {
  KILN_CHECK(head_dim > 0 && head_dim % 4 == 0, "2-D RoPE needs a head_dim divisible by 4, got {}", head_dim);
  const int64_t quarter = head_dim / 4;
  RopeSlots slots{2, {}, {}, false};
  for (int32_t axis = 0; axis < 2; ++axis)
    for (int64_t k = 0; k < quarter; ++k) {
      slots.axis.push_back(axis);
      slots.inv_freq.push_back(ladder(theta, 4 * k, head_dim));
    }
  return slots;
}

RopeSlots mrope_slots(int64_t head_dim, double theta, std::array<int64_t, 3> section, bool interleaved_sections) {
  const int64_t half = head_dim / 2;
  KILN_CHECK(head_dim > 0 && head_dim % 2 == 0 && section[0] >= 0 && section[1] >= 0 && section[2] >= 0,
             "model.mrope_section must be non-negative with an even head_dim, got head_dim {}", head_dim);
  KILN_CHECK(section[0] + section[1] + section[2] == half, "model.mrope_section sums to {}, expected head_dim/2 = {}",
             section[0] + section[1] + section[2], half);
  RopeSlots slots{3, {}, {}, false};
  for (int64_t j = 0; j < half; ++j) {
    int32_t axis = 0;
    if (interleaved_sections) {
      if (j % 3 == 1 && j < 3 * section[1]) axis = 1;
      else if (j % 3 == 2 && j < 3 * section[2]) axis = 2;
    } else {
      axis = j < section[0] ? 0 : (j < section[0] + section[1] ? 1 : 2);
    }
    slots.axis.push_back(axis);
    slots.inv_freq.push_back(ladder(theta, 2 * j, head_dim));
  }
  return slots;
}

void rope(const float* x, float* y, const int64_t* positions, const RopeShape& shape, const RopeSlots& slots,
          bool inverse) {
  rotate(x, y, positions, shape, slots, inverse);
}
void rope(const double* x, double* y, const int64_t* positions, const RopeShape& shape, const RopeSlots& slots,
          bool inverse) {
  rotate(x, y, positions, shape, slots, inverse);
}

}  // namespace kiln::cpu
