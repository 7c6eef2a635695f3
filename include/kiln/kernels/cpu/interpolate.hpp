#pragma once
// Resampling one axis of a tensor as PyTorch 1.13's F.interpolate does with
// align_corners = false and no antialiasing (aten/src/ATen/native/UpSample.h):
// output index o reads the input at s = (o + 0.5)·in/out − 0.5.
//  - linear: s clamped at 0, taps ⌊s⌋ and ⌊s⌋ + 1 (the last input index
//    repeated at the end), weights 1 − t and t with t = s − ⌊s⌋;
//  - cubic: s not clamped, taps ⌊s⌋ − 1 … ⌊s⌋ + 2 clamped into [0, in), Keys'
//    cubic convolution weights with A = −0.75.
// A resize is a linear map: a [out, in] matrix with `taps` entries per row, so
// its backward is the same taps applied transposed.
#include <cstdint>
#include <vector>

namespace kiln::cpu {

enum class Interpolation { linear, cubic };

// The sparse rows of the resize matrix from `in` to `out` samples: output o
// is Σ_k weight[o·taps + k] · input[index[o·taps + k]].
struct ResizeTaps {
  int64_t in = 0, out = 0, taps = 0;
  std::vector<int64_t> index;
  std::vector<double> weight;
};

// in, out ≥ 1 (checked by the caller).
ResizeTaps resize_taps(int64_t in, int64_t out, Interpolation mode);

// x viewed [outer, in, inner] → y [outer, out, inner].
template <typename T>
void resize_axis(const T* x, T* y, int64_t outer, int64_t inner, const ResizeTaps& taps);

// The transpose: grad_x [outer, in, inner] = Σ over the taps reading each
// input of weight · grad_y. grad_x is overwritten.
template <typename T>
void resize_axis_transpose(const T* grad_y, T* grad_x, int64_t outer, int64_t inner, const ResizeTaps& taps);

}  // namespace kiln::cpu
