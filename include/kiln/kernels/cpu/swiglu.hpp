#pragma once
// The backward of SwiGLU's gate: out = silu(gate) · up.
#include <cstdint>

namespace kiln::cpu {

// d_gate = g · up · σ(gate) · (1 + gate · (1 − σ(gate))), d_up = g · silu(gate), n elements (f32, f64).
template <typename T>
void swiglu_backward(const T* g, const T* gate, const T* up, T* d_gate, T* d_up, int64_t n);

}  // namespace kiln::cpu
