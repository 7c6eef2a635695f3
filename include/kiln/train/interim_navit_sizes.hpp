#pragma once
// TEMPORARY: the sizes NaViT training draws for plain 28×28 Fashion-MNIST
// images, until the data layer's Fashion-MNIST canvases (SPEC-VLM §7.1) are
// available; then the NaViT trainer takes its images from there and this
// file goes.
#include <cstdint>

#include "kiln/data/vision_tokens.hpp"

namespace kiln::train {

// Image `slot` of training step `step`: a square garment of side
// round(28·u), u ~ U(0.57, 2.0) (16 to 56 px, as §7.1's first step), brought
// to a multiple of patch·merge by smart_resize under `limits`. A pure
// function of (seed, step, slot).
data::ImageSize interim_training_size(uint64_t seed, uint64_t step, int64_t slot, const data::ResizeLimits& limits);

}  // namespace kiln::train
