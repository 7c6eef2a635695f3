#pragma once
// Rotary position embedding (Su et al., arXiv 2104.09864; as in LLaMA and
// DeepSeek). Pair i of a head rotates by angle p·θ^(−2i/D). Pairing:
// interleaved (2i, 2i+1), as the Meta and DeepSeek references, or half-split
// (i, i+D/2), as Hugging Face. The slot-table form drives each pair from its
// own position axis and frequency (2-D vision RoPE, M-RoPE; see
// kernels/cpu/rope.hpp).
#include "kiln/kernels/cpu/rope.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

// x: [B, T, H, D] with positions i64 [B, T] or [T]; or x: [T, H, D] with positions [T].
Tensor rope(const Tensor& x, const Tensor& positions, double theta, bool interleaved);

// x: [B, T, H, D] or [T, H, D]; positions i64 [A, T] (shared by every row) or
// [A, B, T], with A = slots.axes.
Tensor rope(const Tensor& x, const Tensor& positions, const cpu::RopeSlots& slots);

}  // namespace kiln::ops
