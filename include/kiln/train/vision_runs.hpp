#pragma once
// Image runs (ViT classification, MAE pre-training, reconstructions, linear
// probe, fine-tuning), as `kiln vit` and `kiln mae` call them. `config` and
// `overrides` name the TOML run configuration; `run` an earlier run or model
// folder; `data` a test set (IDX prefix or image folder).
#include <cstdint>
#include <optional>
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
  std::optional<int64_t> tome_r;  // ToMe's r for every block (kiln vit eval); unset: as the run was trained
  std::vector<int64_t> tome_sweep = {0, 1, 2, 3, 4, 6, 8, 12};
  int64_t batch = 256;   // images per timed forward pass
  int64_t passes = 10;   // timed passes per r (after two warm-up passes)
};

void run_vit_training(const VisionOptions& options);
void run_vit_evaluation(const VisionOptions& options);
// Off-the-shelf ToMe on a trained ViT: for each r of `tome_sweep`, the tokens
// left after the last block, the FLOP ratio to r = 0, images/s of the forward
// pass (median of `passes` passes of `batch` images, the r values timed in
// turn so that a busy machine slows them alike) and test-set accuracy.
void run_vit_tome_sweep(const VisionOptions& options);
void run_mae_pretraining(const VisionOptions& options);
void run_mae_show(const VisionOptions& options);
void run_mae_probe(const VisionOptions& options);
void run_mae_finetuning(const VisionOptions& options);

}  // namespace kiln::train
