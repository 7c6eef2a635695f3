#include "kiln/train/image_trainer.hpp"

#include <algorithm>
#include <cmath>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/io/png.hpp"
#include "kiln/optim/optimizer.hpp"
#include "kiln/train/training_loop.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

Tensor image_batch(const ImageData& data, const std::vector<int64_t>& items, const Augmentation& aug, double mean,
                   double std, uint64_t seed, uint64_t draw) {
  const int64_t c = data.images.size(1), h = data.images.size(2), w = data.images.size(3);
  const auto b = static_cast<int64_t>(items.size());
  Tensor out = Tensor::empty({b, c, h, w});
  const uint8_t* src = data.images.data<uint8_t>();
  float* dst = out.data<float>();
  const auto scale = static_cast<float>(1.0 / (255.0 * std));
  const auto shift = static_cast<float>(mean / std);
  const PhiloxKey key{seed, 0x696d6167ULL ^ (draw << 8)};
  for (int64_t n = 0; n < b; ++n) {
    int64_t dy = 0, dx = 0;
    bool flip = false;
    if (aug.pad > 0 || aug.flip) {
      const auto bits = philox_block(key, static_cast<uint64_t>(n));
      if (aug.pad > 0) {
        dy = static_cast<int64_t>(bits[0] % static_cast<uint32_t>(2 * aug.pad + 1)) - aug.pad;
        dx = static_cast<int64_t>(bits[1] % static_cast<uint32_t>(2 * aug.pad + 1)) - aug.pad;
      }
      flip = aug.flip && (bits[2] & 1u) != 0;
    }
    const uint8_t* image = src + items[n] * c * h * w;
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          const int64_t sy = y + dy, sx0 = x + dx, sx = flip ? w - 1 - sx0 : sx0;
          const bool inside = sy >= 0 && sy < h && sx0 >= 0 && sx0 < w;
          const float pixel = inside ? static_cast<float>(image[(ch * h + sy) * w + sx]) : 0.0f;
          dst[((n * c + ch) * h + y) * w + x] = pixel * scale - shift;
        }
  }
  return out;
}

Tensor label_batch(const ImageData& data, const std::vector<int64_t>& items) {
  std::vector<int64_t> labels;
  for (int64_t i : items) labels.push_back(data.labels.data<int64_t>()[i]);
  return Tensor::from<int64_t>(labels, {static_cast<int64_t>(labels.size())});
}

LoopOptions epoch_loop_options(const ImageTrainOptions& o, int64_t per_epoch) {
  LoopOptions loop;
  loop.steps = o.max_steps > 0 ? std::min(per_epoch * o.epochs, o.max_steps) : per_epoch * o.epochs;
  loop.steps_per_epoch = per_epoch;
  loop.schedule = {.kind = "cosine", .warmup = o.warmup_steps, .lr = o.lr, .min_lr = o.min_lr};
  loop.adamw = {.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .eps = 1e-8, .weight_decay = o.weight_decay,
                .decay_rule = {}};
  loop.grad_clip = o.grad_clip;
  loop.unit = "images";
  loop.items_per_step = o.batch_size;
  loop.seed = o.seed;
  loop.identity = {{"batch_size", o.batch_size}, {"total_steps", loop.steps}, {"seed", o.seed},
                   {"lr", o.lr},                 {"warmup_steps", o.warmup_steps}};
  return loop;
}

ImageTrainResult train_images(const ImageData& data, std::map<std::string, Tensor> parameters, const BatchLoss& loss,
                              const ImageTrainOptions& o, const fs::path& run_dir,
                              const std::function<void(int64_t, nlohmann::json&)>& after_epoch) {
  KILN_CHECK(data.size() >= o.batch_size, "the training set has {} images, fewer than one batch of {}", data.size(),
             o.batch_size);
  const int64_t per_epoch = data.size() / o.batch_size;
  LoopOptions loop = epoch_loop_options(o, per_epoch);
  loop.resume = o.resume;
  loop.identity["images"] = data.size();
  // The image family's step: the epoch's Philox order, batch k of it, augmented from the step number.
  int64_t order_epoch = -1;
  std::vector<int64_t> order;
  const auto step = [&](int64_t s, nlohmann::json&) {
    const int64_t epoch = s / per_epoch, k = s % per_epoch;
    if (epoch != order_epoch) {
      order = philox_permutation(data.size(), {o.seed, 0x65706f63ULL + static_cast<uint64_t>(epoch)});
      order_epoch = epoch;
    }
    const std::vector<int64_t> items(order.begin() + k * o.batch_size, order.begin() + (k + 1) * o.batch_size);
    const Tensor images = image_batch(data, items, o.augmentation, o.mean, o.std, o.seed, static_cast<uint64_t>(s));
    const Tensor value = loss(images, label_batch(data, items), s);
    return train::backward_loss(value);
  };
  const auto evaluate = [&](int64_t done, nlohmann::json& record) {
    if (after_epoch) after_epoch((done - 1) / per_epoch + 1, record);
  };
  const LoopResult r = run_training_loop(parameters, optim::gradient_trained(parameters),
                                         {.step = step, .evaluate = evaluate}, loop, run_dir);
  return {.steps = r.last_step, .seconds = r.seconds, .images_per_second = r.items_per_second,
          .last_loss = r.last_loss};
}

Evaluation evaluate_images(const ImageData& data, const BatchLogits& logits, int64_t batch_size, double mean,
                           double std) {
  NoGradGuard no_grad;
  Evaluation e;
  const int64_t k = data.classes;
  e.confusion.assign(static_cast<size_t>(k * k), 0);
  for (int64_t first = 0; first < data.size(); first += batch_size) {
    std::vector<int64_t> items;
    for (int64_t i = first; i < std::min(first + batch_size, data.size()); ++i) items.push_back(i);
    std::vector<int64_t> truth;
    for (int64_t i : items) truth.push_back(data.labels.data<int64_t>()[i]);
    add_predictions(e, logits(image_batch(data, items, {}, mean, std, 0, 0)), truth, k);
  }
  return e;
}

void add_predictions(Evaluation& e, const Tensor& logits, const std::vector<int64_t>& truth, int64_t k) {
  const Tensor out = logits.contiguous();
  KILN_CHECK(out.dim() == 2 && out.size(1) == k && out.size(0) == static_cast<int64_t>(truth.size()),
             "evaluation: logits {} for {} items of {} classes", out.describe(), truth.size(), k);
  e.confusion.resize(static_cast<size_t>(k * k), 0);
  const float* l = out.data<float>();
  for (size_t n = 0; n < truth.size(); ++n) {
    const int64_t predicted = std::max_element(l + n * k, l + (n + 1) * k) - (l + n * k);
    ++e.confusion[truth[n] * k + predicted];
    e.correct += predicted == truth[n];
    ++e.total;
  }
  e.accuracy = static_cast<double>(e.correct) / static_cast<double>(e.total);
}

void write_confusion_png(const Evaluation& e, int64_t k, const fs::path& path) {
  constexpr int kCell = 24;
  const int side = static_cast<int>(k) * kCell;
  std::vector<uint8_t> rgb(static_cast<size_t>(side * side * 3), 255);
  for (int64_t t = 0; t < k; ++t) {
    int64_t row_total = 0;
    for (int64_t p = 0; p < k; ++p) row_total += e.confusion[t * k + p];
    for (int64_t p = 0; p < k; ++p) {
      // Share of the true class predicted as p: white (0) to dark blue (1); a
      // grey grid line between cells.
      const double share =
          row_total > 0 ? static_cast<double>(e.confusion[t * k + p]) / static_cast<double>(row_total) : 0;
      const auto shade = [&](double full) { return static_cast<uint8_t>(255 - share * (255 - full)); };
      for (int y = 0; y < kCell; ++y)
        for (int x = 0; x < kCell; ++x) {
          const bool border = y == 0 || x == 0;
          uint8_t* px = &rgb[((static_cast<size_t>(t) * kCell + y) * side + static_cast<size_t>(p) * kCell + x) * 3];
          px[0] = border ? 200 : shade(8);
          px[1] = border ? 200 : shade(48);
          px[2] = border ? 200 : shade(107);
        }
    }
  }
  io::write_png(path, side, side, rgb);
}

void write_image_grid_png(const Tensor& images, int64_t columns, int zoom, const fs::path& path) {
  const Tensor x = images.contiguous();
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t rows = (n + columns - 1) / columns;
  const int width = static_cast<int>(columns * (w * zoom + 2)), height = static_cast<int>(rows * (h * zoom + 2));
  std::vector<uint8_t> rgb(static_cast<size_t>(width * height * 3), 255);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t ox = (i % columns) * (w * zoom + 2) + 1, oy = (i / columns) * (h * zoom + 2) + 1;
    for (int64_t y = 0; y < h * zoom; ++y)
      for (int64_t xx = 0; xx < w * zoom; ++xx)
        for (int64_t ch = 0; ch < 3; ++ch) {
          const int64_t source = c == 1 ? 0 : ch;
          const float v = x.data<float>()[((i * c + source) * h + y / zoom) * w + xx / zoom];
          rgb[static_cast<size_t>(((oy + y) * width + ox + xx) * 3 + ch)] =
              static_cast<uint8_t>(std::clamp(v, 0.0f, 1.0f) * 255.0f + 0.5f);
        }
  }
  io::write_png(path, width, height, rgb);
}

}  // namespace kiln::train
