#pragma once
// NaViT runs (SPEC-VLM §7.1 task (a)), as `kiln navit train|eval` call them:
// the packed native-resolution classifier trained on Fashion-MNIST garments on
// canvases of random size (data/fashion_canvas.hpp), and its accuracy on the
// test canvases and at square test sizes it may never have seen.
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::train {

struct NavitOptions {
  std::string config, run, data;  // data: folder of Fashion-MNIST's IDX files
  std::vector<std::string> overrides;
  std::vector<int64_t> image_sizes;  // eval: square sizes in px (default: 16 24 32 48 64 80)
  int64_t test_images = 0;           // eval: > 0: the first this many test garments only
  bool resume = false;
};

void run_navit_training(const NavitOptions& options);
void run_navit_evaluation(const NavitOptions& options);

}  // namespace kiln::train
