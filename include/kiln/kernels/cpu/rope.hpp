#pragma once
// Rotary position embedding on contiguous x viewed [rows, T, H, D] (Su et al.,
// RoFormer, arXiv 2104.09864; interleaved as Meta's llama/model.py, half-split
// as transformers' modeling_llama.py). Pair i of every head rotates by angle
// p·θ^(−2i/D); the pair is (2i, 2i+1) when interleaved, (i, i + D/2)
// otherwise. Angles are formed in f64 and rounded once to the compute type, so
// long positions keep their precision. inverse = true rotates by −angle (the
// backward).
#include <cstdint>

namespace kiln::cpu {

struct RopeShape {
  int64_t rows = 1, length = 0, heads = 1, head_dim = 0;
  bool positions_per_row = false;  // positions [rows, T]; otherwise [T], shared by every row
};

void rope(const float* x, float* y, const int64_t* positions, const RopeShape& shape, double theta, bool interleaved,
          bool inverse);
void rope(const double* x, double* y, const int64_t* positions, const RopeShape& shape, double theta,
          bool interleaved, bool inverse);

}  // namespace kiln::cpu
