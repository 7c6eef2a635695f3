#pragma once
// Images [B, C, H, W] (f32, contiguous) cut into non-overlapping P×P patches
// [B, (H/P)·(W/P), C·P·P], patches in row-major grid order; H and W are
// multiples of P (checked by the caller).
#include <cstdint>

namespace kiln::cpu {

// The order of one patch's elements: (channel, row, col) as a stride-P
// convolution sees it (ViT's patch embedding), or (row, col, channel) as
// MAE's pixel targets are laid out.
enum class PatchLayout { chw, hwc };

struct ImageGeometry {
  int64_t batch = 0, channels = 0, height = 0, width = 0, patch = 0;
};

void patchify(const float* images, const ImageGeometry& g, PatchLayout layout, float* patches);
// The inverse: every pixel of `images` written once.
void unpatchify(const float* patches, const ImageGeometry& g, PatchLayout layout, float* images);

// Merge-block-major order (Qwen2-VL's image processor, SPEC-VLM §1.2): the
// patches of each m×m block are consecutive, blocks in row-major order, so a
// 2×2 patch merger is a reshape of the sequence. The patch at grid (row, col)
// of a gw-wide grid gets sequence index
//   ((row / m)·(gw / m) + col / m)·m² + (row % m)·m + col % m.
// gh and gw are multiples of m (checked by the caller).
int64_t merge_order_index(int64_t row, int64_t col, int64_t grid_width, int64_t merge);

// As `patchify`, with each image's patches in merge-block-major order.
void patchify_merge_order(const float* images, const ImageGeometry& g, int64_t merge, PatchLayout layout,
                          float* patches);
// The grid row and column of every sequence index of one gh×gw grid in merge
// order: rows[k], cols[k] for k < gh·gw. Positions travel with the tokens
// (2D RoPE, factorised embeddings), so the order changes nothing in a ViT.
void merge_order_positions(int64_t grid_height, int64_t grid_width, int64_t merge, int32_t* rows, int32_t* cols);

}  // namespace kiln::cpu
