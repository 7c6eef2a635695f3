#pragma once
// Learning-rate schedules as pure functions of the step (0-based).
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::optim {

// Linear warmup from 0 over `warmup` steps (lr·(step+1)/warmup), then cosine
// from peak down to min_lr at `total` steps, flat after.
double warmup_cosine(int64_t step, int64_t warmup, int64_t total, double peak, double min_lr);
// Linear warmup, then linear decay to min_lr at `total`.
double warmup_linear(int64_t step, int64_t warmup, int64_t total, double peak, double min_lr);
// DeepSeek LLM: linear warmup, then peak until 80% of training, ×0.316 until
// 90%, ×0.1 after (boundaries and factors configurable). A new rate applies
// from the first step whose progress reaches its boundary.
double deepseek_multistep(int64_t step, int64_t warmup, int64_t total, double peak,
                          const std::vector<double>& boundaries = {0.8, 0.9},
                          const std::vector<double>& factors = {0.316, 0.1});

// A schedule chosen by name, as configs give it: "cosine" (warmup_cosine),
// "linear" (warmup_linear), "multistep" (deepseek_multistep) or "constant"
// (linear warm-up, then the peak).
struct LrSchedule {
  std::string kind = "cosine";
  int64_t warmup = 0;
  double lr = 1e-3, min_lr = 0.0;
  double at(int64_t step, int64_t total) const;
};

}  // namespace kiln::optim
