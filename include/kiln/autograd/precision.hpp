#pragma once
// Compute precision of matrix products for a scope, per thread (like
// torch.autocast): with Precision::bf16, f32 matmul/linear operands are
// rounded to bf16 and multiplied with f32 accumulation and f32 results, in
// forward and backward. Weights, gradients and optimizer state stay f32.
// With Precision::fp8 (DeepSeek-V3's recipe, emulated), every operand of
// every matmul/linear GEMM — forward, Dgrad and Wgrad — is rounded to E4M3
// with one f32 scale per group along the GEMM's inner dimension: 128×128
// blocks for a weight, 1×128 or 128×1 tiles for activations and gradients
// (kernels/cpu/fp8_quant.hpp); the products then run in f32.
namespace kiln {

enum class Precision { f32, bf16, fp8 };

Precision matmul_precision();

class PrecisionGuard {
 public:
  explicit PrecisionGuard(Precision precision);
  ~PrecisionGuard();
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;

 private:
  Precision previous_;
};

}  // namespace kiln
