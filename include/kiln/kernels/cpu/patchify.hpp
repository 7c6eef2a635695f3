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

}  // namespace kiln::cpu
