#pragma once
// Rotary position embedding on contiguous x viewed [rows, T, H, D] (Su et al.,
// RoFormer, arXiv 2104.09864), generalised to several position axes as the
// vision-language models use it. Each rotated pair j < D/2 is a *slot* with
// its own position axis a_j and frequency f_j, and rotates by the angle
// pos[a_j]·f_j:
//  - 1-D RoPE (LLaMA, DeepSeek): one axis, f_j = θ^(−2j/D);
//  - 2-D vision RoPE (Qwen2-VL's VisionRotaryEmbedding): axis 0 = patch row
//    for the first D/4 slots, axis 1 = column for the next D/4, each with
//    f_k = θ^(−4k/D);
//  - M-RoPE (Qwen2-VL's text side): axes t, h, w over consecutive sections
//    of slots (or interleaved, as Qwen3-VL), f_j = θ^(−2j/D).
// A pair is (2j, 2j+1) when interleaved (Meta's llama/model.py), (j, j + D/2)
// otherwise (transformers' rotate_half). Angles are formed in f64 and rounded
// once to the compute type, so long positions keep their precision.
// inverse = true rotates by −angle (the backward).
#include <array>
#include <cstdint>
#include <vector>

namespace kiln::cpu {

struct RopeShape {
  int64_t rows = 1, length = 0, heads = 1, head_dim = 0;
  bool positions_per_row = false;  // positions [axes, rows, T]; otherwise [axes, T], shared by every row
};

struct RopeSlots {
  int64_t axes = 1;
  std::vector<int32_t> axis;     // per pair j < head_dim/2: the position axis that drives it
  std::vector<double> inv_freq;  // per pair: angle = position · inv_freq
  bool interleaved = false;      // pairs (2j, 2j+1) instead of (j, j + head_dim/2)
  int64_t pairs() const { return static_cast<int64_t>(axis.size()); }
};

// One axis, f_j = θ^(−2j/head_dim).
RopeSlots text_rope_slots(int64_t head_dim, double theta, bool interleaved);
// Qwen2-VL's vision 2-D RoPE (split-half pairs); head_dim a multiple of 4.
RopeSlots vision_rope_slots(int64_t head_dim, double theta);
// M-RoPE over axes (t, h, w) with section sizes summing to head_dim/2 (split-half
// pairs). Sectioned (Qwen2-VL): slots [0, s_t) → t, [s_t, s_t+s_h) → h, the
// rest → w. Interleaved sections (Qwen3-VL): slot j → h if j mod 3 = 1 and
// j < 3·s_h, → w if j mod 3 = 2 and j < 3·s_w, → t otherwise.
RopeSlots mrope_slots(int64_t head_dim, double theta, std::array<int64_t, 3> section, bool interleaved_sections);

void rope(const float* x, float* y, const int64_t* positions, const RopeShape& shape, const RopeSlots& slots,
          bool inverse);
void rope(const double* x, double* y, const int64_t* positions, const RopeShape& shape, const RopeSlots& slots,
          bool inverse);

}  // namespace kiln::cpu
