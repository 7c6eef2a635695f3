#pragma once
// Compute precision of matrix products for a scope, per thread (like
// torch.autocast): with Precision::bf16, f32 matmul/linear operands are
// rounded to bf16 and multiplied with f32 accumulation and f32 results, in
// forward and backward. Weights, gradients and optimizer state stay f32.
namespace kiln {

enum class Precision { f32, bf16 };

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
