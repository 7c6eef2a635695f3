#pragma once
// data.resolution_scale = [lo, hi], shared by kiln navit and kiln vlm: NaViT's
// per-image resolution sampling (SPEC-VLM §1.6) for training canvases.
#include "kiln/data/fashion_canvas.hpp"
#include "kiln/io/config_file.hpp"

namespace kiln::train {

// [1, 1] (off) when the key is absent; one line for anything but two numbers
// with 0 < lo ≤ hi ≤ 8.
data::ResolutionScale read_resolution_scale(io::ConfigFile& f);

}  // namespace kiln::train
