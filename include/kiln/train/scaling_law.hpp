#pragma once
// DeepSeek LLM's compute-optimal hyperparameters (arXiv 2401.02954, §3).
// Model scale is non-embedding FLOPs per token including attention,
// M = 72·L·d² + 6·L·d·l_seq, and compute is C = M·D for D training tokens.
#include <cstdint>

namespace kiln::train {

struct ScalingPlan {
  double compute = 0;          // C, FLOPs
  double batch_tokens = 0;     // B_opt = 0.2920·C^0.3271
  double learning_rate = 0;    // η_opt = 0.3118·C^−0.1250
  double flops_per_token = 0;  // M_opt = 0.1715·C^0.5243
  double tokens = 0;           // D_opt = 5.8316·C^0.4757
};

double flops_per_token(int64_t n_layer, int64_t d_model, int64_t seq_len);
ScalingPlan plan_for_compute(double compute);

}  // namespace kiln::train
