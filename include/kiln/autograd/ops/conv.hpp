#pragma once
#include "kiln/tensor/tensor.hpp"

namespace kiln::ops {

// torch.nn.functional.conv1d with groups = 1, dilation = 1:
// x [B, C_in, L], weight [C_out, C_in, K], bias [C_out] (optional)
// → [B, C_out, (L + 2·padding − K) / stride + 1]. Lowered to one GEMM per
// batch entry over an im2col buffer.
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = {}, int64_t stride = 1, int64_t padding = 0);

}  // namespace kiln::ops
