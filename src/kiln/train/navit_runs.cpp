// kiln navit train|eval: NaViT's packed classifier on Fashion-MNIST garments
// on canvases of random size and aspect ratio (data/fashion_canvas.hpp, from
// Debian's dataset-fashion-mnist) on the one training loop. A step takes
// train.batch_size canvases, each at its own size, packs them next-fit (or
// ffd:K) into sequences of at most vision.max_tokens tokens, and accumulates
// the summed cross-entropy of every pack divided by the step's image count.
// With vision.token_drop, each training image first keeps only part of its
// tokens (NaViT's continuous token dropping, data/token_drop.hpp), and the
// packs are planned with the kept counts; evaluation never drops.
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
#include "kiln/data/fashion_canvas.hpp"
#include "kiln/data/image_mode.hpp"
#include "kiln/data/planar_image.hpp"
#include "kiln/data/token_drop.hpp"
#include "kiln/data/vision_tokens.hpp"
#include "kiln/io/config_file.hpp"
#include "kiln/io/json_field.hpp"
#include "kiln/models/vision/image_pack.hpp"
#include "kiln/models/vision/navit.hpp"
#include "kiln/models/vision/vision_config_io.hpp"
#include "kiln/optim/optimizer.hpp"
#include "kiln/train/image_trainer.hpp"
#include "kiln/train/model_folder.hpp"
#include "kiln/train/resolution_scale_option.hpp"
#include "kiln/train/training_loop.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kEvalChunk = 256;  // images rendered and classified at a time

struct NavitRun {
  models::NavitConfig model;
  data::ResizeLimits limits;
  data::ResolutionScale resolution_scale;  // training canvases only; evaluation sees them unscaled
  data::ImageMode image_mode = data::ImageMode::native;  // resize and pad: the fixed-resolution baselines
  int64_t image_size = 0;                                // their square side
  int64_t max_tokens = 4096;
  data::PackingPolicy packing;
  std::string token_drop_text = "none";
  data::TokenDropSchedule token_drop;
  ImageTrainOptions train;
  fs::path data_dir;
  uint64_t test_seed = 0;
  int64_t eval_images = 0;  // test canvases evaluated during and after training (0: all)
  fs::path run_dir;
};

data::ResizeLimits read_resize_limits(io::ConfigFile& f, const models::VisionConfig& v) {
  data::ResizeLimits limits;
  limits.patch = v.patch_size;
  limits.merge = v.merge_size;
  limits.min_pixels = f.get_int("vision.min_pixels", 256, 1, int64_t{1} << 30);
  limits.max_pixels = f.get_int("vision.max_pixels", 4096, 1, int64_t{1} << 30);
  limits.max_ratio = f.get_double("vision.max_ratio", 200, 1, 1e6);
  data::check_resize_limits(limits);
  return limits;
}

// by_size's n_ref defaults to the middle of the token counts the resize limits
// allow (136 for the 16²–64² canvases at 4-px patches, their measured mean).
void read_token_drop(io::ConfigFile& f, NavitRun& r, int64_t most_tokens) {
  const models::VisionConfig& v = r.model.vision;
  const int64_t fewest = std::max<int64_t>(1, r.limits.min_pixels / (v.patch_size * v.patch_size));
  r.token_drop_text = f.get_string("vision.token_drop", "none");
  const int64_t reference = f.get_int("vision.token_drop_reference", (fewest + most_tokens) / 2, 1, int64_t{1} << 24);
  r.token_drop = data::parse_token_drop(r.token_drop_text, reference);
  const bool grid_from_tokens = v.positions == models::VisionPositions::factorized_fractional ||
                                v.positions == models::VisionPositions::learned;
  KILN_CHECK(r.token_drop.kind == data::TokenDropSchedule::Kind::none || !grid_from_tokens,
             "vision.token_drop = \"{}\" needs vision.positions = rope2d or factorized ({} sizes each image's "
             "positions from its grid, which dropped tokens no longer show)",
             r.token_drop_text, models::vision_positions_name(v.positions));
  KILN_CHECK(r.token_drop.kind == data::TokenDropSchedule::Kind::none || v.window == 0,
             "vision.token_drop = \"{}\" cannot be combined with vision.window = {} (windows tile whole grids)",
             r.token_drop_text, v.window);
}

// data.image_mode and data.image_size: canvases squashed to (resize, 32 px
// by default) or pasted on (pad, 88 px: the largest canvas side) one square.
void read_image_mode(io::ConfigFile& f, NavitRun& r) {
  r.image_mode = data::parse_image_mode(f.get_string("data.image_mode", "native", {"native", "resize", "pad"}));
  r.image_size = f.get_int("data.image_size", r.image_mode == data::ImageMode::pad ? 88 : 32, 1, 4096);
  const int64_t unit = r.limits.patch * r.limits.merge;
  KILN_CHECK(r.image_size % unit == 0, "data.image_size = {} must be a multiple of patch_size · merge_size = {}",
             r.image_size, unit);
}

NavitRun read_navit_run(const std::string& path, const std::vector<std::string>& overrides) {
  io::ConfigFile f = path.empty() ? io::ConfigFile() : io::ConfigFile::load(path);
  for (const std::string& o : overrides) f.apply_override(o);
  NavitRun r;
  r.run_dir = f.get_string("run.dir", "runs/fmnist-navit");
  f.get_string("data.task", "fashion-canvas", {"fashion-canvas"});
  r.data_dir = f.get_string("data.dir", std::string(data::kFashionMnistDir));
  r.test_seed = static_cast<uint64_t>(f.get_int("data.test_seed", 0, 0, 1LL << 62));
  r.packing = data::parse_packing_policy(f.get_string("data.pack", "next_fit"));
  r.model = models::read_navit_config(f);
  const models::VisionConfig& v = r.model.vision;
  r.limits = read_resize_limits(f, v);
  r.resolution_scale = read_resolution_scale(f);
  r.max_tokens = f.get_int("vision.max_tokens", 4096, 1, int64_t{1} << 24);
  read_image_mode(f, r);
  KILN_CHECK(r.resolution_scale.none() || r.image_mode == data::ImageMode::native,
             "data.resolution_scale needs data.image_mode = \"native\" (\"{}\" gives every image one size)",
             data::image_mode_name(r.image_mode));
  const int64_t fixed = r.image_mode == data::ImageMode::native ? 0 : r.image_size * r.image_size;
  const int64_t largest = std::max(r.limits.max_pixels, fixed) / (v.patch_size * v.patch_size);
  KILN_CHECK(r.max_tokens >= largest, "vision.max_tokens ({}) is below the {} tokens of an image of vision.max_pixels",
             r.max_tokens, largest);
  read_token_drop(f, r, largest);
  ImageTrainOptions& t = r.train;
  t.epochs = f.get_int("train.epochs", 10, 1, 100000);
  t.batch_size = f.get_int("train.batch_size", 64, 1, 1 << 16);
  t.lr = f.get_double("train.lr", 2e-3, 0, 10);
  t.min_lr = f.get_double("train.min_lr", 1e-5, 0, 10);
  t.warmup_steps = f.get_int("train.warmup_steps", 200, 0, 1 << 30);
  t.weight_decay = f.get_double("train.weight_decay", 0.05, 0, 10);
  t.grad_clip = f.get_double("train.grad_clip", 1.0, 0, 1e6);
  t.seed = static_cast<uint64_t>(f.get_int("train.seed", 0, 0, 1LL << 62));
  t.max_steps = f.get_int("train.max_steps", 0, 0, 1 << 30);
  r.eval_images = f.get_int("eval.test_images", 0, 0, 1 << 30);
  f.check_all_used();
  return r;
}

// config.json: the classifier's, plus the image sizes it was trained on
// (Qwen2-VL keeps min_pixels/max_pixels in its preprocessor config).
nlohmann::json navit_run_json(const NavitRun& r) {
  nlohmann::json j = models::navit_config_json(r.model);
  j["preprocessor"] = {{"min_pixels", r.limits.min_pixels},
                       {"max_pixels", r.limits.max_pixels},
                       {"max_ratio", r.limits.max_ratio},
                       {"image_mode", data::image_mode_name(r.image_mode)},
                       {"image_size", r.image_size}};
  return j;
}

data::ResizeLimits resize_limits_from_json(const nlohmann::json& j, const models::VisionConfig& v,
                                           const std::string& source) {
  const auto pre = io::json_field<nlohmann::json>(j, "preprocessor", source);
  const std::string block = source + " (preprocessor)";
  data::ResizeLimits limits;
  limits.patch = v.patch_size;
  limits.merge = v.merge_size;
  limits.min_pixels = io::json_int(pre, "min_pixels", 1, int64_t{1} << 30, block);
  limits.max_pixels = io::json_int(pre, "max_pixels", 1, int64_t{1} << 30, block);
  limits.max_ratio = io::json_field<double>(pre, "max_ratio", block);
  data::check_resize_limits(limits);
  return limits;
}

// A run's image mode; folders written before the key existed are native.
void image_mode_from_json(const nlohmann::json& j, const std::string& source, NavitRun& r) {
  const auto pre = io::json_field<nlohmann::json>(j, "preprocessor", source);
  if (!pre.contains("image_mode")) return;
  const std::string block = source + " (preprocessor)";
  r.image_mode = data::parse_image_mode(io::json_field<std::string>(pre, "image_mode", block));
  r.image_size = io::json_int(pre, "image_size", 0, 4096, block);
}

// One labelled image as the encoder takes it: normalised as kiln vit normalises, [1, H, W].
struct EncoderImage {
  Tensor pixels;
  int64_t label = 0;
};

EncoderImage encoder_image(data::LabelledImage image, const NavitRun& r) {
  image.image = data::shape_image(std::move(image.image), r.image_mode, {r.image_size, r.image_size});
  data::normalize_pixels(image.image, data::kFashionPixelMean, data::kFashionPixelStd);
  const data::PlanarImage& p = image.image;
  return {Tensor::from<float>(p.pixels, {p.channels, p.height, p.width}), image.label};
}

struct Pack {
  models::ImagePackTensors tensors;
  Tensor labels;  // i64 [images of the pack]
};

int64_t token_count(const EncoderImage& image, int64_t patch) {
  return (image.pixels.size(1) / patch) * (image.pixels.size(2) / patch);
}

// The tokens each image of training step `step` keeps under r.token_drop.
std::vector<std::vector<int32_t>> kept_tokens_of(const std::vector<EncoderImage>& images, const NavitRun& r,
                                                 int64_t step) {
  std::vector<std::vector<int32_t>> kept;
  for (size_t i = 0; i < images.size(); ++i) {
    const int64_t n = token_count(images[i], r.model.vision.patch_size);
    const data::DropSite site{r.train.seed, step, static_cast<int64_t>(i)};
    kept.push_back(data::kept_tokens(n, data::drop_rate(r.token_drop, n, site), site));
  }
  return kept;
}

// Packs of `images`; with `kept` (one list per image), of their kept tokens only.
std::vector<Pack> packs_of(const std::vector<EncoderImage>& images, const NavitRun& r,
                           const std::vector<std::vector<int32_t>>& kept = {}) {
  const int64_t p = r.model.vision.patch_size;
  std::vector<int64_t> tokens;
  for (size_t i = 0; i < images.size(); ++i)
    tokens.push_back(kept.empty() ? token_count(images[i], p) : static_cast<int64_t>(kept[i].size()));
  std::vector<Pack> packs;
  for (const data::ImagePack& planned : data::pack_images(tokens, r.max_tokens, r.packing)) {
    std::vector<Tensor> members;
    std::vector<int64_t> labels;
    std::vector<std::vector<int32_t>> members_kept;
    for (int64_t i : planned.images) {
      members.push_back(images[static_cast<size_t>(i)].pixels);
      labels.push_back(images[static_cast<size_t>(i)].label);
      if (!kept.empty()) members_kept.push_back(kept[static_cast<size_t>(i)]);
    }
    models::ImagePackTensors tensors = models::pack_image_tensors(members, p, r.model.vision.merge_size);
    if (!kept.empty()) tensors = models::keep_tokens(tensors, members_kept);
    packs.push_back({std::move(tensors), Tensor::from<int64_t>(labels, {static_cast<int64_t>(labels.size())})});
  }
  return packs;
}

// Accuracy over `count` images, image i drawn by `image_at(i)`.
Evaluation evaluate_navit(const models::NavitModel& model, int64_t count, const NavitRun& r,
                          const std::function<data::LabelledImage(int64_t)>& image_at) {
  NoGradGuard no_grad;
  Evaluation e;
  const int64_t classes = model.config().n_classes;
  for (int64_t first = 0; first < count; first += kEvalChunk) {
    std::vector<EncoderImage> images;
    for (int64_t i = first; i < std::min(first + kEvalChunk, count); ++i) images.push_back(encoder_image(image_at(i), r));
    for (const Pack& pack : packs_of(images, r))
      add_predictions(e, model.logits(pack.tensors), pack.labels.to_vector<int64_t>(), classes);
  }
  return e;
}

Evaluation evaluate_canvases(const models::NavitModel& model, const data::FashionCanvases& test, const NavitRun& r,
                             int64_t count) {
  return evaluate_navit(model, count, r, [&](int64_t i) { return test.canvas(r.test_seed, i); });
}

}  // namespace

void run_navit_training(const NavitOptions& a) {
  NavitRun r = read_navit_run(a.config, a.overrides);
  const data::FashionCanvases train_set(data::DataSplit::train, r.limits, r.data_dir, r.resolution_scale);
  const data::FashionCanvases test_set(data::DataSplit::test, r.limits, r.data_dir);
  const ImageTrainOptions& o = r.train;
  const int64_t n = train_set.garments();
  KILN_CHECK(n >= o.batch_size, "{}: {} garments, fewer than one batch of {}", r.data_dir.string(), n, o.batch_size);
  models::NavitModel model(r.model, o.seed + 1);
  fmt::print(stderr, "NaViT ({} positions): {} parameters; {} training garments on canvases, {} test canvases\n",
             models::vision_positions_name(r.model.vision.positions), r.model.parameter_count(), n,
             test_set.garments());
  if (r.image_mode != data::ImageMode::native)
    fmt::print(stderr, "fixed resolution: data.image_mode = \"{}\", every image {}×{} px\n",
               data::image_mode_name(r.image_mode), r.image_size, r.image_size);
  if (!r.resolution_scale.none())
    fmt::print(stderr, "resolution sampling while training: each canvas scaled by a factor in [{}, {}]\n",
               r.resolution_scale.lo, r.resolution_scale.hi);
  if (r.token_drop.kind != data::TokenDropSchedule::Kind::none)
    fmt::print(stderr, "token dropping while training: vision.token_drop = \"{}\"\n", r.token_drop_text);

  const int64_t per_epoch = n / o.batch_size;
  LoopOptions loop = epoch_loop_options(o, per_epoch);
  loop.label = "navit";
  loop.resume = a.resume;
  loop.identity["garments"] = n;
  if (r.token_drop.kind != data::TokenDropSchedule::Kind::none) loop.identity["token_drop"] = r.token_drop_text;
  if (!r.resolution_scale.none())
    loop.identity["resolution_scale"] = {r.resolution_scale.lo, r.resolution_scale.hi};
  if (r.image_mode != data::ImageMode::native) loop.identity["image_mode"] = data::image_mode_name(r.image_mode);
  int64_t order_epoch = -1;
  std::vector<int64_t> order;
  const auto step = [&](int64_t s, nlohmann::json& record) {
    const int64_t epoch = s / per_epoch, k = s % per_epoch;
    if (epoch != order_epoch) {
      order = philox_permutation(n, {o.seed, 0x65706f63ULL + static_cast<uint64_t>(epoch)});
      order_epoch = epoch;
    }
    // Canvas index epoch·n + garment: the same garment on a new canvas every epoch.
    std::vector<EncoderImage> images;
    for (int64_t slot = k * o.batch_size; slot < (k + 1) * o.batch_size; ++slot)
      images.push_back(encoder_image(train_set.canvas(o.seed, epoch * n + order[static_cast<size_t>(slot)]), r));
    double loss = 0;
    int64_t tokens = 0, all_tokens = 0;
    for (const EncoderImage& image : images) all_tokens += token_count(image, r.model.vision.patch_size);
    const bool dropping = r.token_drop.kind != data::TokenDropSchedule::Kind::none;
    const std::vector<Pack> packs = packs_of(images, r, dropping ? kept_tokens_of(images, r, s) : std::vector<std::vector<int32_t>>{});
    for (const Pack& pack : packs) {
      const Tensor value =
          ops::scale(model.loss_sum(pack.tensors, pack.labels), 1.0 / static_cast<double>(o.batch_size));
      backward(value);
      loss += value.item();
      tokens += pack.tensors.patches.size(0);
    }
    record["vision_tokens"] = tokens;
    if (dropping) record["tokens_dropped"] = 1.0 - static_cast<double>(tokens) / static_cast<double>(all_tokens);
    record["packs"] = static_cast<int64_t>(packs.size());
    return StepLoss{loss, loss};
  };
  Evaluation last_evaluation;
  const int64_t eval_count = r.eval_images > 0 ? std::min(r.eval_images, test_set.garments()) : test_set.garments();
  const auto evaluate = [&](int64_t, nlohmann::json& record) {
    last_evaluation = evaluate_canvases(model, test_set, r, eval_count);
    record["val_accuracy"] = last_evaluation.accuracy;
  };
  const LoopResult result = run_training_loop(model.parameters(), optim::gradient_trained(model.parameters()),
                                              {.step = step, .evaluate = evaluate}, loop, r.run_dir);
  save_model_folder(r.run_dir / "model", navit_run_json(r), model.parameters());
  // The loop evaluates after its last step; a resumed run that had nothing left to do has not.
  const Evaluation e =
      last_evaluation.total > 0 ? last_evaluation : evaluate_canvases(model, test_set, r, eval_count);
  fmt::print("trained {} steps in {:.1f} s ({:.0f} images/s)\n", result.last_step, result.seconds,
             result.items_per_second);
  fmt::print("test canvases: accuracy {:.2f}% ({} of {})\n", 100 * e.accuracy, e.correct, e.total);
}

void run_navit_evaluation(const NavitOptions& a) {
  const fs::path dir = fs::exists(fs::path(a.run) / "config.json") ? fs::path(a.run) : fs::path(a.run) / "model";
  ModelFolder folder = load_model_folder(dir, "a kiln NaViT run");
  const std::string source = (folder.dir / "config.json").string();
  models::NavitModel model(models::navit_config_from_json(folder.config, source), 0);
  model.load_parameters(folder.weights);
  NavitRun r;
  r.model = model.config();
  r.limits = resize_limits_from_json(folder.config, r.model.vision, source);
  image_mode_from_json(folder.config, source, r);
  r.test_seed = 0;
  r.data_dir = a.data.empty() ? fs::path(data::kFashionMnistDir) : fs::path(a.data);
  const data::FashionCanvases test(data::DataSplit::test, r.limits, r.data_dir);
  const std::vector<int64_t> sizes = a.image_sizes.empty()
                                         ? std::vector<int64_t>(data::kFashionSweepSides.begin(),
                                                                data::kFashionSweepSides.end())
                                         : a.image_sizes;
  const int64_t unit = r.limits.patch * r.limits.merge;
  for (int64_t size : sizes)
    KILN_CHECK(size >= unit && size % unit == 0 && size <= 4096,
               "--image-size {} must be a positive multiple of patch_size · merge_size = {} (at most 4096)", size, unit);
  const int64_t largest = *std::max_element(sizes.begin(), sizes.end());
  r.max_tokens = std::max({r.limits.max_pixels, largest * largest, r.image_size * r.image_size}) /
                 (r.limits.patch * r.limits.patch);
  const int64_t count = a.test_images > 0 ? std::min(a.test_images, test.garments()) : test.garments();
  fmt::print("{} ({} positions{}) on {} test garments of {}\n", dir.string(),
             models::vision_positions_name(r.model.vision.positions),
             r.image_mode == data::ImageMode::native
                 ? ""
                 : fmt::format(", every image {} to {}×{} px", r.image_mode == data::ImageMode::pad ? "padded" : "resized",
                               r.image_size, r.image_size),
             count, r.data_dir.string());
  fmt::print("{:>16}  {:>9}\n", "test images", "accuracy");
  const Evaluation canvases = evaluate_canvases(model, test, r, count);
  fmt::print("{:>16}  {:>8.2f}%\n", "canvases", 100 * canvases.accuracy);
  for (int64_t size : sizes) {
    const Evaluation e = evaluate_navit(model, count, r, [&](int64_t i) { return test.square(i, size); });
    fmt::print("{:>13} px  {:>8.2f}%\n", fmt::format("{}×{}", size, size), 100 * e.accuracy);
  }
}

}  // namespace kiln::train
