#pragma once
// Training loops for image models (ViT classification, MAE pre-training,
// linear probes): epochs over a labelled image set in a Philox-shuffled
// order, augmentation (random crop after zero padding, horizontal flip),
// AdamW with warm-up + cosine decay, evaluation with accuracy and a
// confusion matrix. The model is given as a loss function over a batch.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/tensor/tensor.hpp"
#include "kiln/train/training_loop.hpp"

namespace kiln::train {

struct ImageData {
  Tensor images;  // u8 [N, C, H, W]
  Tensor labels;  // i64 [N]
  int64_t classes = 0;
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

struct Augmentation {
  int64_t pad = 0;     // random crop of the original size after zero padding by this much
  bool flip = false;   // random horizontal flip
};

// Float batch [B, C, H, W] of (pixel/255 − mean)/std for the given items;
// augmentation drawn from (seed, draw) so a batch is reproducible.
Tensor image_batch(const ImageData& data, const std::vector<int64_t>& items, const Augmentation& augmentation,
                   double mean, double std, uint64_t seed, uint64_t draw);
Tensor label_batch(const ImageData& data, const std::vector<int64_t>& items);

struct ImageTrainOptions {
  int64_t epochs = 10;
  int64_t batch_size = 128;
  double lr = 1e-3, min_lr = 1e-5;
  int64_t warmup_steps = 200;
  double weight_decay = 0.05;
  double beta1 = 0.9, beta2 = 0.999;
  double grad_clip = 1.0;
  Augmentation augmentation;
  double mean = 0.0, std = 1.0;  // pixel normalisation (pixels in [0, 1])
  uint64_t seed = 0;
  int64_t max_steps = 0;         // > 0: stop early (tests, timing)
  bool resume = false;           // continue from <run>/trainer_state (saved after every epoch)
};

// The loop of an epoch-based image run: per_epoch steps per epoch, cosine
// schedule, AdamW, and the identity a resume must match (callers add the
// size of their data set, their label and --resume).
LoopOptions epoch_loop_options(const ImageTrainOptions& o, int64_t per_epoch);

struct Evaluation {
  double accuracy = 0;
  int64_t correct = 0, total = 0;
  std::vector<int64_t> confusion;  // [classes × classes], row = true class
};

// Counts a batch of predictions (argmax of logits [n, classes]) against the
// true classes into `evaluation` (confusion matrix sized on first use); accuracy updated.
void add_predictions(Evaluation& evaluation, const Tensor& logits, const std::vector<int64_t>& truth, int64_t classes);

using BatchLoss = std::function<Tensor(const Tensor& images, const Tensor& labels, int64_t step)>;
using BatchLogits = std::function<Tensor(const Tensor& images)>;

// Trains `parameters` (those that require grad) with AdamW on `loss`;
// appends one JSON line per step to <run>/metrics.jsonl, calls
// `after_epoch(epoch)` (evaluation, checkpoints) after each epoch, then saves
// the training state. A resumed run continues at the next epoch and reaches
// the same weights as one that never stopped (batches, augmentation and the
// loss's randomness are all drawn from the step number).
struct ImageTrainResult {
  int64_t steps = 0;
  double seconds = 0;
  double images_per_second = 0;
  double last_loss = 0;
};
ImageTrainResult train_images(const ImageData& data, std::map<std::string, Tensor> parameters, const BatchLoss& loss,
                              const ImageTrainOptions& options, const std::filesystem::path& run_dir,
                              const std::function<void(int64_t epoch, nlohmann::json& record)>& after_epoch = {});

Evaluation evaluate_images(const ImageData& data, const BatchLogits& logits, int64_t batch_size, double mean,
                           double std);

// A heat map of the confusion matrix (rows true, columns predicted) as PNG.
void write_confusion_png(const Evaluation& evaluation, int64_t classes, const std::filesystem::path& path);

// A grid of images [N, C, H, W] (floats in [0, 1]) as PNG, `columns` per row, scaled up by `zoom`.
void write_image_grid_png(const Tensor& images, int64_t columns, int zoom, const std::filesystem::path& path);

}  // namespace kiln::train
