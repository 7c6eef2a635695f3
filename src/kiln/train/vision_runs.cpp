// Image runs: kiln vit train|eval and kiln mae train|show|probe|finetune —
// image models on IDX sets (Fashion-MNIST from Debian's
// dataset-fashion-mnist) or image folders, with TOML configs and
// checkpoints in safetensors + config.json; training on the one loop.
#include "kiln/train/vision_runs.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/embedding.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/base/threads.hpp"
#include "kiln/data/planar_image.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/io/safetensors.hpp"
#include "kiln/models/mae/mae.hpp"
#include "kiln/models/parameters.hpp"
#include "kiln/models/vit/resize_positions.hpp"
#include "kiln/models/vit/vit.hpp"
#include "kiln/models/vit/vit_config_io.hpp"
#include "kiln/train/training_loop.hpp"
#include "kiln/io/config_file.hpp"
#include "kiln/train/image_trainer.hpp"
#include "kiln/train/image_sets.hpp"
#include "kiln/train/model_folder.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

struct VisionRun {
  models::VitConfig vit;
  models::MaeConfig mae;
  ImageTrainOptions train;
  std::string train_data, test_data;
  fs::path run_dir;
  double label_smoothing = 0;
  int64_t eval_batch = 256;
};

VisionRun read_vision_config(const std::string& path, const std::vector<std::string>& overrides, bool mae) {
  io::ConfigFile f = path.empty() ? io::ConfigFile() : io::ConfigFile::load(path);
  for (const std::string& o : overrides) f.apply_override(o);
  VisionRun r;
  const std::string fmnist = "/usr/share/datasets/fashion-mnist/";
  r.run_dir = f.get_string("run.dir", mae ? "runs/fmnist-mae" : "runs/fmnist-vit");
  r.train_data = f.get_string("data.train", fmnist + "train");
  r.test_data = f.get_string("data.test", fmnist + "t10k");
  r.vit = models::read_vit_config(f, mae);
  if (mae) r.mae = models::read_mae_config(f, r.vit);
  ImageTrainOptions& t = r.train;
  t.epochs = f.get_int("train.epochs", 10, 1, 100000);
  t.batch_size = f.get_int("train.batch_size", 128, 1, 1 << 16);
  t.lr = f.get_double("train.lr", 1e-3, 0, 10);
  t.min_lr = f.get_double("train.min_lr", t.lr / 100, 0, 10);
  t.warmup_steps = f.get_int("train.warmup_steps", 200, 0, 1 << 30);
  t.weight_decay = f.get_double("train.weight_decay", 0.05, 0, 10);
  t.beta2 = f.get_double("train.beta2", mae ? 0.95 : 0.999, 0, 0.999999);
  t.grad_clip = f.get_double("train.grad_clip", 1.0, 0, 1e6);
  t.augmentation.pad = f.get_int("train.crop_pad", 2, 0, 64);
  t.augmentation.flip = f.get_bool("train.flip", true);
  t.mean = f.get_double("train.pixel_mean", 0.2860, -10, 10);  // Fashion-MNIST's
  t.std = f.get_double("train.pixel_std", 0.3530, 1e-6, 10);
  t.seed = static_cast<uint64_t>(f.get_int("train.seed", 0, 0, 1LL << 62));
  t.max_steps = f.get_int("train.max_steps", 0, 0, 1 << 30);
  r.label_smoothing = f.get_double("train.label_smoothing", 0.0, 0, 1);
  f.check_all_used();
  r.vit.validate();
  if (mae) {
    r.mae.encoder = r.vit;
    r.mae.validate();
  }
  return r;
}

void save_model(const fs::path& dir, const nlohmann::json& config, const std::map<std::string, Tensor>& weights) {
  save_model_folder(dir, config, weights);
}

fs::path model_dir(const fs::path& run_or_model) {
  return fs::exists(run_or_model / "config.json") ? run_or_model : run_or_model / "model";
}

void check_images_fit(const ImageData& data, const models::VitConfig& v, const std::string& spec) {
  KILN_CHECK(data.images.size(1) == v.channels && data.images.size(2) == v.image_size &&
                 data.images.size(3) == v.image_size,
             "{}: images are {}×{}×{} (channels × height × width), the model takes {}×{}×{}", spec,
             data.images.size(1), data.images.size(2), data.images.size(3), v.channels, v.image_size, v.image_size);
  KILN_CHECK(v.n_classes == 0 || data.classes <= v.n_classes, "{}: {} classes, the model has {}", spec, data.classes,
             v.n_classes);
}

void report(const Evaluation& e, int64_t classes, const fs::path& dir, const std::string& what) {
  fmt::print("{}: accuracy {:.2f}% ({} of {})\n", what, 100 * e.accuracy, e.correct, e.total);
  write_confusion_png(e, classes, dir / "confusion.png");
  fmt::print("confusion matrix: {}\n", (dir / "confusion.png").string());
}

// Accuracy on `test` with every image resampled to size×size (data::resize_image:
// stb_image_resize's triangle filter) and normalised as kiln vit normalises.
Evaluation evaluate_resized(const models::VitModel& model, const ImageData& test, int64_t size, double mean,
                            double std) {
  NoGradGuard no_grad;
  const int64_t c = test.images.size(1), h = test.images.size(2), w = test.images.size(3);
  Evaluation e;
  for (int64_t first = 0; first < test.size(); first += 256) {
    const int64_t count = std::min<int64_t>(256, test.size() - first);
    Tensor batch = Tensor::empty({count, c, size, size});
    std::vector<int64_t> truth;
    for (int64_t k = 0; k < count; ++k) {
      data::PlanarImage image = data::resize_image(
          data::image_from_bytes(test.images.data<uint8_t>() + (first + k) * c * h * w, c, h, w), {size, size});
      data::normalize_pixels(image, mean, std);
      std::copy(image.pixels.begin(), image.pixels.end(), batch.data<float>() + k * c * size * size);
      truth.push_back(test.labels.data<int64_t>()[first + k]);
    }
    add_predictions(e, model.logits(batch), truth, test.classes);
  }
  return e;
}

// A ViT with the folder's weights; `tome_r`, when given, is the r of every
// block instead of the one it was trained with.
models::VitModel vit_from_folder(const ModelFolder& folder, std::optional<int64_t> tome_r) {
  models::VitConfig config = models::vit_config_from_json(folder.config, (folder.dir / "config.json").string());
  if (tome_r) {
    KILN_CHECK(*tome_r >= 0, "ToMe's r must not be negative, got {}", *tome_r);
    config.tome_r.assign(static_cast<size_t>(config.n_layer), *tome_r);
  }
  models::VitModel model(config, 0);
  model.load_parameters(folder.weights);
  return model;
}

models::VitModel load_vit(const fs::path& dir, std::optional<int64_t> tome_r = {}) {
  return vit_from_folder(load_model_folder(dir, "a kiln ViT run"), tome_r);
}

// ToMe clamps an r larger than a block can merge (merge.py: at most half of
// the mergeable tokens); one line says where that happened.
void report_tome_clamping(const models::VitConfig& v) {
  const std::vector<int64_t> counts = v.token_counts();
  std::string clamped;
  for (int64_t l = 0; l < v.n_layer; ++l)
    if (const int64_t merged = counts[l] - counts[l + 1]; merged < v.tome_r_at(l))
      clamped += fmt::format("{}block {} merges {} of {} tokens, not {}", clamped.empty() ? "" : "; ", l, merged,
                             counts[l], v.tome_r_at(l));
  if (!clamped.empty()) fmt::print(stderr, "ToMe: r clamped to half of each block's mergeable tokens ({})\n", clamped);
}

// "50 → 26 tokens, 0.62× the FLOPs of r = 0" for a ViT that merges; empty otherwise.
std::string tome_summary(const models::VitConfig& v) {
  const std::vector<int64_t> counts = v.token_counts();
  if (counts.front() == counts.back()) return "";
  models::VitConfig plain = v;
  plain.tome_r.clear();
  return fmt::format("ToMe: {} → {} tokens, {:.3f}× the FLOPs of r = 0", counts.front(), counts.back(),
                     v.forward_flops() / plain.forward_flops());
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

models::MaeModel load_mae(const fs::path& dir) {
  ModelFolder folder = load_model_folder(dir, "a kiln MAE run");
  models::MaeModel model(models::mae_config_from_json(folder.config, (folder.dir / "config.json").string()), 0);
  model.load_parameters(folder.weights);
  return model;
}

}  // namespace

void run_vit_training(const VisionOptions& a) {

  VisionRun r = read_vision_config(a.config, a.overrides, false);
  r.train.resume = a.resume;
  const ImageData data = load_image_set(r.train_data), test = load_image_set(r.test_data);
  check_images_fit(data, r.vit, r.train_data);
  check_images_fit(test, r.vit, r.test_data);
  models::VitModel model(r.vit, r.train.seed + 1);
  fmt::print(stderr, "ViT: {} parameters, {} patches of {}×{}; {} training and {} test images\n",
             r.vit.parameter_count(), r.vit.patches(), r.vit.patch_size, r.vit.patch_size, data.size(), test.size());
  report_tome_clamping(r.vit);
  if (const std::string tome = tome_summary(r.vit); !tome.empty()) fmt::print(stderr, "{}\n", tome);
  const auto logits = [&](const Tensor& images) { return model.logits(images); };
  const ImageTrainResult result = train_images(
      data, model.parameters(),
      [&](const Tensor& images, const Tensor& labels, int64_t) { return model.loss(images, labels, r.label_smoothing); },
      r.train, r.run_dir, [&](int64_t, nlohmann::json& record) {
        record["val_accuracy"] = evaluate_images(test, logits, r.eval_batch, r.train.mean, r.train.std).accuracy;
      });
  save_model(r.run_dir / "model", models::vit_config_json(r.vit), model.parameters());
  const Evaluation e = evaluate_images(test, logits, r.eval_batch, r.train.mean, r.train.std);
  fmt::print("trained {} steps in {:.1f} s ({:.0f} images/s)\n", result.steps, result.seconds, result.images_per_second);
  report(e, test.classes, r.run_dir, "test set");
}

void run_vit_evaluation(const VisionOptions& a) {

  const fs::path dir = model_dir(a.run);
  const models::VitModel trained = load_vit(dir, a.tome_r);
  const std::string spec = a.data.empty() ? "/usr/share/datasets/fashion-mnist/t10k" : a.data;
  ImageData test = load_image_set(spec);
  check_images_fit(test, trained.config(), spec);
  if (a.test_images > 0 && a.test_images < test.size()) {
    test.images = test.images.narrow(0, 0, a.test_images);
    test.labels = test.labels.narrow(0, 0, a.test_images);
  }
  const int64_t size = a.image_size > 0 ? a.image_size : trained.config().image_size;
  const models::VitModel model = models::vit_at_image_size(trained, size);
  report_tome_clamping(model.config());  // token counts at the size evaluated
  if (const std::string tome = tome_summary(model.config()); !tome.empty()) fmt::print("{}\n", tome);
  const double mean = 0.2860, std = 0.3530;
  if (size == trained.config().image_size) {
    const Evaluation e = evaluate_images(
        test, [&](const Tensor& images) { return model.logits(images); }, 256, mean, std);
    report(e, test.classes, fs::path(a.run), spec);
    return;
  }
  const Evaluation e = evaluate_resized(model, test, size, mean, std);
  report(e, test.classes, fs::path(a.run),
         fmt::format("{} at {}×{} px (resampled from {}×{})", spec, size, size, test.images.size(2),
                     test.images.size(3)));
}

void run_vit_tome_sweep(const VisionOptions& a) {
  KILN_CHECK(!a.tome_sweep.empty(), "--r: give at least one value of r");
  for (int64_t r : a.tome_sweep) KILN_CHECK(r >= 0, "--r: ToMe's r must not be negative, got {}", r);
  KILN_CHECK(a.batch >= 1 && a.passes >= 1, "--batch and --passes must be positive, got {} and {}", a.batch,
             a.passes);
  const ModelFolder folder = load_model_folder(model_dir(a.run), "a kiln ViT run");
  std::vector<models::VitModel> models;
  for (int64_t r : a.tome_sweep) models.push_back(vit_from_folder(folder, r));
  const models::VitConfig& first = models.front().config();
  const std::string spec = a.data.empty() ? "/usr/share/datasets/fashion-mnist/t10k" : a.data;
  const ImageData test = load_image_set(spec);
  check_images_fit(test, first, spec);
  const double mean = 0.2860, std = 0.3530;
  std::vector<int64_t> items;
  for (int64_t i = 0; i < std::min(a.batch, test.size()); ++i) items.push_back(i);
  const Tensor images = image_batch(test, items, {}, mean, std, 0, 0);
  const int64_t warm_up = 2;
  std::vector<std::vector<double>> seconds(models.size());
  {
    NoGradGuard no_grad;
    for (int64_t pass = 0; pass < warm_up + a.passes; ++pass)
      for (size_t i = 0; i < models.size(); ++i) {
        const auto start = std::chrono::steady_clock::now();
        const Tensor logits = models[i].logits(images);
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (pass >= warm_up) seconds[i].push_back(elapsed);
      }
  }
  models::VitConfig plain = first;
  plain.tome_r.clear();
  const double plain_flops = plain.forward_flops();
  fmt::print("ToMe off the shelf: {} on {} ({} images); OpenMP threads: {}; images/s = median of {} passes of {} "
             "images\n",
             a.run, spec, test.size(), num_threads(), a.passes, items.size());
  fmt::print("{:>4}  {:>6}  {:>10}  {:>9}  {:>8}\n", "r", "tokens", "FLOP ratio", "images/s", "accuracy");
  for (size_t i = 0; i < models.size(); ++i) {
    const models::VitModel& model = models[i];
    const Evaluation e = evaluate_images(
        test, [&](const Tensor& batch) { return model.logits(batch); }, 256, mean, std);
    const std::vector<int64_t> counts = model.config().token_counts();
    bool clamped = false;
    for (size_t l = 0; l + 1 < counts.size(); ++l) clamped = clamped || counts[l] - counts[l + 1] < a.tome_sweep[i];
    fmt::print("{:>4}  {:>6}  {:>10.3f}  {:>9.0f}  {:>7.2f}%{}\n", a.tome_sweep[i], counts.back(),
               model.config().forward_flops() / plain_flops, static_cast<double>(items.size()) / median(seconds[i]),
               100 * e.accuracy, clamped ? "  (r clamped)" : "");
  }
  fmt::print("tokens: after the last block, class token included ({} before the first)\n", first.patches() + 1);
}

void run_mae_pretraining(const VisionOptions& a) {

  VisionRun r = read_vision_config(a.config, a.overrides, true);
  r.train.resume = a.resume;
  const ImageData data = load_image_set(r.train_data);
  check_images_fit(data, r.vit, r.train_data);
  models::MaeModel model(r.mae, r.train.seed + 1);
  int64_t count = 0;
  for (const auto& [name, p] : model.parameters()) count += p.numel();
  fmt::print(stderr, "MAE: {} parameters, mask ratio {}, {} of {} patches visible\n", count, r.mae.mask_ratio,
             models::random_patch_mask(1, r.vit.patches(), r.mae.mask_ratio, 0, 0).keep, r.vit.patches());
  const auto result = train_images(
      data, model.parameters(),
      [&](const Tensor& images, const Tensor&, int64_t step) {
        const models::PatchMask mask = models::random_patch_mask(images.size(0), r.vit.patches(), r.mae.mask_ratio,
                                                                 r.train.seed, static_cast<uint64_t>(step));
        return model.forward(images, mask).loss;
      },
      r.train, r.run_dir);
  save_model(r.run_dir / "model", models::mae_config_json(model.config()), model.parameters());
  fmt::print("pre-trained {} steps in {:.1f} s ({:.0f} images/s); final loss {:.4f}; checkpoint {}\n", result.steps,
             result.seconds, result.images_per_second, result.last_loss, (r.run_dir / "model").string());
}

void run_mae_show(const VisionOptions& a) {

  const fs::path dir = model_dir(a.run);
  const models::MaeModel model = load_mae(dir);
  const models::VitConfig& v = model.config().encoder;
  const std::string spec = a.data.empty() ? "/usr/share/datasets/fashion-mnist/t10k" : a.data;
  const ImageData data = load_image_set(spec);
  check_images_fit(data, v, spec);
  KILN_CHECK(a.count >= 1 && a.count <= data.size(), "--count must be between 1 and {}", data.size());
  std::vector<int64_t> items;
  for (int64_t i = 0; i < a.count; ++i) items.push_back(i);
  const double mean = 0.2860, std = 0.3530;
  const Tensor images = image_batch(data, items, {}, mean, std, 0, 0);
  NoGradGuard no_grad;
  const models::PatchMask mask = models::random_patch_mask(a.count, v.patches(), model.config().mask_ratio, 7, 0);
  const models::MaeOutput out = model.forward(images, mask);
  // Rows: originals, masked inputs (removed patches grey), reconstructions (visible patches pasted back).
  Tensor pred = out.pred.contiguous().clone();
  const Tensor target = models::patchify_hwc(images, v.patch_size);
  if (model.config().norm_pix_loss) {
    // Undo the per-patch normalisation with each original patch's statistics.
    const int64_t k = pred.size(2);
    for (int64_t row = 0; row < pred.size(0) * pred.size(1); ++row) {
      double m = 0, var = 0;
      for (int64_t i = 0; i < k; ++i) m += target.data<float>()[row * k + i];
      m /= static_cast<double>(k);
      for (int64_t i = 0; i < k; ++i) var += std::pow(target.data<float>()[row * k + i] - m, 2);
      var /= static_cast<double>(k - 1);
      for (int64_t i = 0; i < k; ++i)
        pred.data<float>()[row * k + i] = static_cast<float>(pred.data<float>()[row * k + i] * std::sqrt(var + 1e-6) + m);
    }
  }
  Tensor masked = target.clone(), pasted = pred.clone();
  const int64_t k = target.size(2);
  for (int64_t n = 0; n < a.count; ++n)
    for (int64_t l = 0; l < v.patches(); ++l) {
      const bool removed = mask.mask.data<float>()[n * v.patches() + l] > 0;
      for (int64_t i = 0; i < k; ++i) {
        const int64_t at = (n * v.patches() + l) * k + i;
        if (removed) masked.data<float>()[at] = static_cast<float>((0.5 - mean) / std);
        else pasted.data<float>()[at] = target.data<float>()[at];
      }
    }
  const auto to_pixels = [&](const Tensor& patches) {
    Tensor img = models::unpatchify_hwc(patches, v.patch_size, v.channels);
    for (int64_t i = 0; i < img.numel(); ++i) img.data<float>()[i] = static_cast<float>(img.data<float>()[i] * std + mean);
    return img;
  };
  const Tensor grid = ops::concat({to_pixels(target), to_pixels(masked), to_pixels(pasted)}, 0);
  const fs::path output = a.output.empty() ? fs::path(a.run) / "mae-show.png" : fs::path(a.output);
  write_image_grid_png(grid, a.count, 4, output);
  fmt::print("{} (rows: originals, masked {:.0f}%, reconstructions); masked-patch loss {:.4f}\n", output.string(),
             100 * model.config().mask_ratio, out.loss.item());
}

// Linear probe: features of the frozen encoder (class token after the final
// norm, all patches visible), then a linear classifier trained with AdamW.
void run_mae_probe(const VisionOptions& a) {

  const fs::path dir = model_dir(a.run);
  const models::MaeModel model = load_mae(dir);
  const models::VitConfig& v = model.config().encoder;
  const ImageData data = load_image_set("/usr/share/datasets/fashion-mnist/train");
  const ImageData test = load_image_set(a.data.empty() ? "/usr/share/datasets/fashion-mnist/t10k" : a.data);
  const double mean = 0.2860, std = 0.3530;
  const auto features_of = [&](const ImageData& set) {
    NoGradGuard no_grad;
    Tensor all = Tensor::empty({set.size(), v.d_model});
    for (int64_t first = 0; first < set.size(); first += 500) {
      std::vector<int64_t> items;
      for (int64_t i = first; i < std::min(first + 500, set.size()); ++i) items.push_back(i);
      const Tensor f = model.encoder().features(image_batch(set, items, {}, mean, std, 0, 0));
      all.narrow(0, first, static_cast<int64_t>(items.size())).copy_(f);
    }
    // Standardise with the training statistics (the reference's affine-free BatchNorm).
    return all;
  };
  const auto start = std::chrono::steady_clock::now();
  Tensor train_features = features_of(data), test_features = features_of(test);
  std::vector<double> mu(static_cast<size_t>(v.d_model), 0), sd(static_cast<size_t>(v.d_model), 0);
  for (int64_t n = 0; n < data.size(); ++n)
    for (int64_t d = 0; d < v.d_model; ++d) mu[d] += train_features.data<float>()[n * v.d_model + d];
  for (double& m : mu) m /= static_cast<double>(data.size());
  for (int64_t n = 0; n < data.size(); ++n)
    for (int64_t d = 0; d < v.d_model; ++d) sd[d] += std::pow(train_features.data<float>()[n * v.d_model + d] - mu[d], 2);
  for (double& s : sd) s = std::sqrt(s / static_cast<double>(data.size()) + 1e-6);
  for (Tensor* f : {&train_features, &test_features})
    for (int64_t n = 0; n < f->size(0); ++n)
      for (int64_t d = 0; d < v.d_model; ++d) {
        float& x = f->data<float>()[n * v.d_model + d];
        x = static_cast<float>((x - mu[d]) / sd[d]);
      }
  const int64_t classes = data.classes;
  std::map<std::string, Tensor> head{{"weight", models::init_parameter({classes, v.d_model}, 0.01, 3, 0)},
                                     {"bias", Tensor::zeros({classes})}};
  for (auto& [name, t] : head) t.set_requires_grad(true);
  const int64_t batch = 256, steps_per_epoch = data.size() / batch;
  LoopOptions o;
  o.label = "probe";
  o.steps = a.epochs * steps_per_epoch;
  o.steps_per_epoch = steps_per_epoch;
  o.schedule = {.kind = "cosine", .warmup = 0, .lr = 1e-2, .min_lr = 1e-4};
  o.adamw.weight_decay = 0;
  o.grad_clip = 0;
  o.unit = "images";
  o.items_per_step = batch;
  LoopHooks hooks;
  hooks.step = [&](int64_t step, nlohmann::json&) {
    // Drawn with replacement, from the step number alone.
    std::vector<int64_t> items;
    for (int64_t i = 0; i < batch; ++i) {
      const auto bits = philox_block({11, static_cast<uint64_t>(step)}, static_cast<uint64_t>(i));
      items.push_back(static_cast<int64_t>(bits[0] % static_cast<uint32_t>(data.size())));
    }
    const Tensor x = ops::embedding(train_features, Tensor::from<int64_t>(items, {batch}));
    const Tensor loss = ops::cross_entropy(ops::linear(x, head["weight"], head["bias"]), label_batch(data, items));
    return train::backward_loss(loss);
  };
  run_training_loop(head, head, hooks, o, {});
  Evaluation e;
  {
    NoGradGuard no_grad;
    std::vector<int64_t> truth(test.labels.data<int64_t>(), test.labels.data<int64_t>() + test.size());
    add_predictions(e, ops::linear(test_features, head["weight"], head["bias"]), truth, classes);
  }
  fmt::print("linear probe ({} epochs on frozen {}-d features, {:.1f} s): ", a.epochs, v.d_model,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  report(e, classes, fs::path(a.run), "test set");
}

// Fine-tuning: a ViT classifier initialised from the MAE encoder (its sin-cos
// table becomes learned positions), trained like `kiln vit train`.
void run_mae_finetuning(const VisionOptions& a) {

  VisionRun r = read_vision_config(a.config, a.overrides, false);
  r.train.resume = a.resume;
  const models::MaeModel pretrained = load_mae(model_dir(a.run));
  models::VitConfig v = pretrained.config().encoder;
  v.sincos_positions = false;
  v.n_classes = r.vit.n_classes;
  v.tome_r = r.vit.tome_r;  // ToMe while fine-tuning, as the paper trains MAE encoders
  models::VitModel model(v, r.train.seed + 1);
  std::map<std::string, Tensor> weights = model.parameters();
  for (auto& [name, t] : weights)
    if (auto it = pretrained.parameters().find(name); it != pretrained.parameters().end()) t = it->second;
  weights["vit.embeddings.position_embeddings"] = models::sincos_position_table(v.d_model, v.grid()).reshape({1, v.patches() + 1, v.d_model});
  model.load_parameters(weights);
  const ImageData data = load_image_set(r.train_data), test = load_image_set(r.test_data);
  const auto logits = [&](const Tensor& images) { return model.logits(images); };
  const auto result = train_images(
      data, model.parameters(),
      [&](const Tensor& images, const Tensor& labels, int64_t) { return model.loss(images, labels, r.label_smoothing); },
      r.train, r.run_dir, [&](int64_t, nlohmann::json& record) {
        record["val_accuracy"] = evaluate_images(test, logits, r.eval_batch, r.train.mean, r.train.std).accuracy;
      });
  save_model(r.run_dir / "model", models::vit_config_json(v), model.parameters());
  fmt::print("fine-tuned {} steps in {:.1f} s ({:.0f} images/s)\n", result.steps, result.seconds, result.images_per_second);
  report(evaluate_images(test, logits, r.eval_batch, r.train.mean, r.train.std), test.classes, r.run_dir,
         "test set");
}

}  // namespace kiln::train
