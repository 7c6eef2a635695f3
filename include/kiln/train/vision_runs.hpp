#pragma once
// Image runs (ViT classification, MAE pre-training, reconstructions, linear
// probe, fine-tuning), as `kiln vit` and `kiln mae` call them. `config` and
// `overrides` name the TOML run configuration; `run` an earlier run or model
// folder; `data` a test set (IDX prefix or image folder).
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::train {

struct VisionOptions {
  std::string config, run, data, output;
  std::vector<std::string> overrides;
  int64_t count = 8;
  int64_t image_size = 0;   // > 0: evaluate a ViT at this square size (test images resampled, positions resized)
  int64_t test_images = 0;  // > 0: evaluate on the first this many test images only
  int64_t epochs = 10;
  double lr = 0.1;
  bool resume = false;
};

void run_vit_training(const VisionOptions& options);
void run_vit_evaluation(const VisionOptions& options);
void run_mae_pretraining(const VisionOptions& options);
void run_mae_show(const VisionOptions& options);
void run_mae_probe(const VisionOptions& options);
void run_mae_finetuning(const VisionOptions& options);

}  // namespace kiln::train
