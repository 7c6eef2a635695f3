#pragma once
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

struct GruOutput {
  Tensor output;  // [B, T, H], the hidden state after every step
  Tensor last;    // [B, H]
};

// One GRU layer, batch-first, with PyTorch's gate order (r, z, n) and equations:
//   r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r ∘ (W_hn h + b_hn)),  h' = (1 − z) ∘ n + z ∘ h
// x [B, T, I]; h0 [B, H] or undefined (zeros); weight_ih [3H, I]; weight_hh [3H, H];
// biases [3H]. The input projection of all steps is one GEMM; gradients come
// from the recorded per-step graph (backpropagation through time).
GruOutput gru(const Tensor& x, const Tensor& h0, const Tensor& weight_ih, const Tensor& weight_hh,
              const Tensor& bias_ih, const Tensor& bias_hh);

}  // namespace kiln::ops
