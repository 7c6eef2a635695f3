// kiln navit train|eval: NaViT's packed classifier on Fashion-MNIST (Debian's
// dataset-fashion-mnist) on the one training loop. A step takes
// train.batch_size images, each at its own size, packs them next-fit (or
// ffd:K) into sequences of at most vision.max_tokens tokens, and accumulates
// the summed cross-entropy of every pack divided by the step's image count.
#include "kiln/train/navit_runs.hpp"

#include <algorithm>
#include <filesystem>
#include <functional>

#include <fmt/format.h>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/data/vision_tokens.hpp"
#include "kiln/io/config_file.hpp"
#include "kiln/models/vision/image_pack.hpp"
#include "kiln/models/vision/navit.hpp"
#include "kiln/models/vision/vision_config_io.hpp"
#include "kiln/optim/optimizer.hpp"
#include "kiln/train/image_sets.hpp"
#include "kiln/train/image_trainer.hpp"
#include "kiln/train/interim_image_resize.hpp"
#include "kiln/train/interim_navit_sizes.hpp"
#include "kiln/train/model_folder.hpp"
#include "kiln/train/training_loop.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kEvalChunk = 256;  // images resampled and classified at a time

struct NavitRun {
  models::NavitConfig model;
  data::ResizeLimits limits;
  int64_t max_tokens = 4096;
  data::PackingPolicy packing;
  ImageTrainOptions train;
  std::string train_data, test_data;
  fs::path run_dir;
};

NavitRun read_navit_run(const std::string& path, const std::vector<std::string>& overrides) {
  io::ConfigFile f = path.empty() ? io::ConfigFile() : io::ConfigFile::load(path);
  for (const std::string& o : overrides) f.apply_override(o);
  NavitRun r;
  const std::string fmnist = "/usr/share/datasets/fashion-mnist/";
  r.run_dir = f.get_string("run.dir", "runs/fmnist-navit");
  r.train_data = f.get_string("data.train", fmnist + "train");
  r.test_data = f.get_string("data.test", fmnist + "t10k");
  r.packing = data::parse_packing_policy(f.get_string("data.pack", "next_fit"));
  r.model = models::read_navit_config(f);
  const models::VisionConfig& v = r.model.vision;
  r.limits.patch = v.patch_size;
  r.limits.merge = v.merge_size;
  r.limits.min_pixels = f.get_int("vision.min_pixels", 256, 1, int64_t{1} << 30);
  r.limits.max_pixels = f.get_int("vision.max_pixels", 4096, 1, int64_t{1} << 30);
  r.limits.max_ratio = f.get_double("vision.max_ratio", 200, 1, 1e6);
  data::check_resize_limits(r.limits);
  r.max_tokens = f.get_int("vision.max_tokens", 4096, 1, int64_t{1} << 24);
  const int64_t largest = r.limits.max_pixels / (v.patch_size * v.patch_size);
  KILN_CHECK(r.max_tokens >= largest, "vision.max_tokens ({}) is below the {} tokens of an image of vision.max_pixels",
             r.max_tokens, largest);
  ImageTrainOptions& t = r.train;
  t.epochs = f.get_int("train.epochs", 10, 1, 100000);
  t.batch_size = f.get_int("train.batch_size", 64, 1, 1 << 16);
  t.lr = f.get_double("train.lr", 2e-3, 0, 10);
  t.min_lr = f.get_double("train.min_lr", 1e-5, 0, 10);
  t.warmup_steps = f.get_int("train.warmup_steps", 200, 0, 1 << 30);
  t.weight_decay = f.get_double("train.weight_decay", 0.05, 0, 10);
  t.grad_clip = f.get_double("train.grad_clip", 1.0, 0, 1e6);
  t.mean = f.get_double("train.pixel_mean", 0.2860, -10, 10);  // Fashion-MNIST's
  t.std = f.get_double("train.pixel_std", 0.3530, 1e-6, 10);
  t.seed = static_cast<uint64_t>(f.get_int("train.seed", 0, 0, 1LL << 62));
  t.max_steps = f.get_int("train.max_steps", 0, 0, 1 << 30);
  f.check_all_used();
  return r;
}

// Normalised images of `items`, item k resampled to size_of(k).
std::vector<Tensor> sized_images(const ImageData& data, const std::vector<int64_t>& items,
                                 const std::function<data::ImageSize(size_t k)>& size_of, double mean, double std) {
  const Tensor batch = image_batch(data, items, {}, mean, std, 0, 0);
  std::vector<Tensor> images;
  for (size_t k = 0; k < items.size(); ++k) {
    const data::ImageSize size = size_of(k);
    const Tensor one = batch.narrow(0, static_cast<int64_t>(k), 1);
    images.push_back(resize_image_batch(one, size.height, size.width).select(0, 0));
  }
  return images;
}

struct Pack {
  models::ImagePackTensors tensors;
  std::vector<int64_t> members;  // indices into the images given to `packs_of`
};

std::vector<Pack> packs_of(const std::vector<Tensor>& images, const NavitRun& r) {
  const int64_t p = r.model.vision.patch_size;
  std::vector<int64_t> tokens;
  for (const Tensor& image : images) tokens.push_back((image.size(1) / p) * (image.size(2) / p));
  std::vector<Pack> packs;
  for (const data::ImagePack& planned : data::pack_images(tokens, r.max_tokens, r.packing)) {
    std::vector<Tensor> members;
    for (int64_t i : planned.images) members.push_back(images[static_cast<size_t>(i)]);
    packs.push_back({models::pack_image_tensors(members, p, r.model.vision.merge_size), planned.images});
  }
  return packs;
}

Tensor labels_of(const ImageData& data, const std::vector<int64_t>& items, const std::vector<int64_t>& members) {
  std::vector<int64_t> picked;
  for (int64_t m : members) picked.push_back(items[static_cast<size_t>(m)]);
  return label_batch(data, picked);
}

Evaluation evaluate_navit(const models::NavitModel& model, const ImageData& data, const NavitRun& r,
                          const std::function<data::ImageSize(int64_t item)>& size_of) {
  NoGradGuard no_grad;
  Evaluation e;
  for (int64_t first = 0; first < data.size(); first += kEvalChunk) {
    std::vector<int64_t> items;
    for (int64_t i = first; i < std::min(first + kEvalChunk, data.size()); ++i) items.push_back(i);
    const auto images =
        sized_images(data, items, [&](size_t k) { return size_of(items[k]); }, r.train.mean, r.train.std);
    for (const Pack& pack : packs_of(images, r)) {
      std::vector<int64_t> truth;
      for (int64_t m : pack.members) truth.push_back(data.labels.data<int64_t>()[items[static_cast<size_t>(m)]]);
      add_predictions(e, model.logits(pack.tensors), truth, data.classes);
    }
  }
  return e;
}

// The size a plain 28×28 test image is shown at during training: smart_resize of its own size.
data::ImageSize native_test_size(const ImageData& data, const NavitRun& r) {
  return data::smart_resize({data.images.size(2), data.images.size(3)}, r.limits, "test image");
}

void check_images(const ImageData& data, const models::NavitConfig& c, const std::string& spec) {
  KILN_CHECK(data.images.size(1) == c.vision.channels, "{}: images have {} channels, the model takes {}", spec,
             data.images.size(1), c.vision.channels);
  KILN_CHECK(data.classes <= c.n_classes, "{}: {} classes, the model has {}", spec, data.classes, c.n_classes);
}

}  // namespace

void run_navit_training(const NavitOptions& a) {
  NavitRun r = read_navit_run(a.config, a.overrides);
  const ImageData data = load_image_set(r.train_data), test = load_image_set(r.test_data);
  check_images(data, r.model, r.train_data);
  check_images(test, r.model, r.test_data);
  const ImageTrainOptions& o = r.train;
  KILN_CHECK(data.size() >= o.batch_size, "{}: {} images, fewer than one batch of {}", r.train_data, data.size(),
             o.batch_size);
  models::NavitModel model(r.model, o.seed + 1);
  const data::ImageSize val_size = native_test_size(test, r);
  fmt::print(stderr, "NaViT ({} positions): {} parameters; {} training images at 16–56 px, test at {}×{} px\n",
             models::vision_positions_name(r.model.vision.positions), r.model.parameter_count(), data.size(),
             val_size.height, val_size.width);

  const int64_t per_epoch = data.size() / o.batch_size;
  LoopOptions loop;
  loop.label = "navit";
  loop.steps = o.max_steps > 0 ? std::min(per_epoch * o.epochs, o.max_steps) : per_epoch * o.epochs;
  loop.steps_per_epoch = per_epoch;
  loop.schedule = {.kind = "cosine", .warmup = o.warmup_steps, .lr = o.lr, .min_lr = o.min_lr};
  loop.adamw = {.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .eps = 1e-8, .weight_decay = o.weight_decay,
                .decay_rule = {}};
  loop.grad_clip = o.grad_clip;
  loop.unit = "images";
  loop.items_per_step = o.batch_size;
  loop.seed = o.seed;
  loop.resume = a.resume;
  loop.identity = {{"images", data.size()}, {"batch_size", o.batch_size}, {"total_steps", loop.steps},
                   {"seed", o.seed},        {"lr", o.lr},                 {"warmup_steps", o.warmup_steps}};
  int64_t order_epoch = -1;
  std::vector<int64_t> order;
  const auto step = [&](int64_t s, nlohmann::json& record) {
    const int64_t epoch = s / per_epoch, k = s % per_epoch;
    if (epoch != order_epoch) {
      order = philox_permutation(data.size(), {o.seed, 0x65706f63ULL + static_cast<uint64_t>(epoch)});
      order_epoch = epoch;
    }
    const std::vector<int64_t> items(order.begin() + k * o.batch_size, order.begin() + (k + 1) * o.batch_size);
    const auto images = sized_images(
        data, items,
        [&](size_t slot) {
          return interim_training_size(o.seed, static_cast<uint64_t>(s), static_cast<int64_t>(slot), r.limits);
        },
        o.mean, o.std);
    double loss = 0;
    int64_t tokens = 0;
    const std::vector<Pack> packs = packs_of(images, r);
    for (const Pack& pack : packs) {
      const Tensor value = ops::scale(model.loss_sum(pack.tensors, labels_of(data, items, pack.members)),
                                      1.0 / static_cast<double>(o.batch_size));
      backward(value);
      loss += value.item();
      tokens += pack.tensors.patches.size(0);
    }
    record["vision_tokens"] = tokens;
    record["packs"] = static_cast<int64_t>(packs.size());
    return StepLoss{loss, loss};
  };
  const auto evaluate = [&](int64_t, nlohmann::json& record) {
    record["val_accuracy"] = evaluate_navit(model, test, r, [&](int64_t) { return val_size; }).accuracy;
  };
  const LoopResult result = run_training_loop(model.parameters(), optim::gradient_trained(model.parameters()),
                                              {.step = step, .evaluate = evaluate}, loop, r.run_dir);
  save_model_folder(r.run_dir / "model", models::navit_config_json(model.config()), model.parameters());
  const Evaluation e = evaluate_navit(model, test, r, [&](int64_t) { return val_size; });
  fmt::print("trained {} steps in {:.1f} s ({:.0f} images/s)\n", result.last_step, result.seconds,
             result.items_per_second);
  fmt::print("test set at {}×{} px: accuracy {:.2f}% ({} of {})\n", val_size.height, val_size.width,
             100 * e.accuracy, e.correct, e.total);
}

void run_navit_evaluation(const NavitOptions& a) {
  const fs::path dir = fs::exists(fs::path(a.run) / "config.json") ? fs::path(a.run) : fs::path(a.run) / "model";
  ModelFolder folder = load_model_folder(dir, "a kiln NaViT run");
  models::NavitModel model(models::navit_config_from_json(folder.config, (folder.dir / "config.json").string()), 0);
  model.load_parameters(folder.weights);
  NavitRun r;
  r.model = model.config();
  r.limits.patch = r.model.vision.patch_size;
  r.limits.merge = r.model.vision.merge_size;
  r.train.mean = 0.2860;
  r.train.std = 0.3530;
  const std::string spec = a.data.empty() ? "/usr/share/datasets/fashion-mnist/t10k" : a.data;
  const ImageData test = load_image_set(spec);
  check_images(test, r.model, spec);
  const std::vector<int64_t> sizes = a.image_sizes.empty() ? std::vector<int64_t>{16, 24, 32, 48, 64, 80} : a.image_sizes;
  const int64_t unit = r.limits.patch * r.limits.merge;
  for (int64_t size : sizes)
    KILN_CHECK(size >= unit && size % unit == 0 && size <= 4096,
               "--image-size {} must be a positive multiple of patch_size · merge_size = {} (at most 4096)", size, unit);
  const int64_t largest = sizes.empty() ? 0 : *std::max_element(sizes.begin(), sizes.end());
  r.max_tokens = std::max<int64_t>(4096, (largest / r.limits.patch) * (largest / r.limits.patch));
  fmt::print("{} ({} positions), {} test images resampled from {}×{} px (stb_image_resize, triangle filter)\n",
             dir.string(), models::vision_positions_name(r.model.vision.positions), test.size(), test.images.size(2),
             test.images.size(3));
  fmt::print("{:>8}  {:>8}  {:>9}\n", "size", "patches", "accuracy");
  for (int64_t size : sizes) {
    const Evaluation e = evaluate_navit(model, test, r, [&](int64_t) { return data::ImageSize{size, size}; });
    fmt::print("{:>5} px  {:>8}  {:>8.2f}%\n", size, (size / r.limits.patch) * (size / r.limits.patch),
               100 * e.accuracy);
  }
}

}  // namespace kiln::train
