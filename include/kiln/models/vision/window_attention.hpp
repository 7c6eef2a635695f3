#pragma once
// Qwen2.5-VL's window attention in the vision encoder (SPEC-VLM §4): most
// layers attend only inside square windows of `window` patches, a few
// (`full_attention_layers`) over the whole image. The windows are tiled in
// merge units (m×m patches, the merger's groups), row-major from each image's
// top-left corner; edge windows are smaller, never padded. The encoder
// permutes its tokens once into window order, so every window is one
// contiguous cu_w segment inside its image's cu_v segment, and permutes them
// back at its output, so callers see merge order as without windows.
#include <cstdint>
#include <vector>

#include "kiln/models/vision/image_segments.hpp"

namespace kiln::models {

struct WindowPartition {
  // Token k of the window-ordered sequence is token index[k] of the
  // merge-ordered input (Qwen's window_index, expanded to patches).
  std::vector<int64_t> index;
  // Window boundaries, image after image: [0, …, tokens], no empty window.
  std::vector<int64_t> cu_w;
};

// `images` must hold whole grids in merge order (as image_pack lays them
// out); dropped tokens or another order is one error line naming the image.
WindowPartition window_partition(const ImageSegments& images, int64_t merge, int64_t window);

}  // namespace kiln::models
