#pragma once
// Images as variable-length token sequences (SPEC-VLM §1.1, §1.3):
//  - smart_resize: the size Qwen2-VL resizes an image to, a multiple of
//    F = patch·merge on each side with the pixel count inside [min, max];
//  - pack_images: NaViT's greedy packing of per-image token counts into
//    sequences of at most `max_tokens`, each with its int32 cu_seqlens.
// Every failure is a one-line kiln::Error naming the image or the key.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::data {

// Qwen2-VL's defaults: 14-px patches merged 2×2, 56² ≤ pixels ≤ 28²·1280.
struct ResizeLimits {
  int64_t patch = 14;
  int64_t merge = 2;
  int64_t min_pixels = 56 * 56;
  int64_t max_pixels = 28 * 28 * 1280;
  double max_ratio = 200;  // longest side / shortest side
};

struct ImageSize {
  int64_t height = 0, width = 0;
  bool operator==(const ImageSize&) const = default;
};

// The resize target of transformers' smart_resize, with qwen-vl-utils' extra
// step (an image enlarged to min_pixels that overshoots max_pixels is shrunk
// again). Sides round half to even, as Python's round does, so (42, 70) with
// F = 28 gives (56, 56), not (56, 84). `image` names the image in errors,
// e.g. "image 3 of sample 17". Refuses a side smaller than one patch, an
// aspect ratio above max_ratio, and inconsistent limits.
ImageSize smart_resize(ImageSize size, const ResizeLimits& limits, std::string_view image = "image");

// The checks smart_resize runs on its limits, for a config to run at load.
void check_resize_limits(const ResizeLimits& limits);

// How images are assigned to packs (`vision.packing`):
//  - next_fit: one open pack; an image that does not fit closes it. Keeps
//    the data order and is deterministic (lmms-engine calls it first_fit).
//  - ffd:K: each window of K consecutive images, sorted by token count
//    (descending, stable), goes first-fit into the packs of that window.
struct PackingPolicy {
  enum class Kind { next_fit, first_fit_decreasing };
  Kind kind = Kind::next_fit;
  int64_t window = 0;  // K of ffd:K
};

// "next_fit" or "ffd:K" with K ≥ 1; `key` names the setting in errors
// (`data.pack` for samples).
PackingPolicy parse_packing_policy(std::string_view text, std::string_view key = "vision.packing");

struct ImagePack {
  std::vector<int64_t> images;     // indices into the token counts, in sequence order
  std::vector<int32_t> cu_seqlens; // [0, n_a, n_a + n_b, ..., tokens]: one attention segment per image
};

// Packs of at most max_tokens tokens each (no tail padding: the varlen
// attention kernel needs no static shape). Every count must be at least one
// (token dropping keeps one) and at most max_tokens.
std::vector<ImagePack> pack_images(std::span<const int64_t> token_counts, int64_t max_tokens,
                                   const PackingPolicy& policy);

}  // namespace kiln::data
