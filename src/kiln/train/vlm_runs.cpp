// kiln vlm train|eval|generate: the vision-language model on the shared
// training loop, one pack of samples per optimizer step.
#include "kiln/train/vlm_runs.hpp"

#include <chrono>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/precision.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/base/progress.hpp"
#include "kiln/data/images.hpp"
#include "kiln/data/planar_image.hpp"
#include "kiln/data/token_drop.hpp"
#include "kiln/data/vision_tokens.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/io/config_file.hpp"
#include "kiln/kernels/cpu/bf16_gemm_choice.hpp"
#include "kiln/models/vlm/vlm_config_io.hpp"
#include "kiln/models/vlm/vlm_model.hpp"
#include "kiln/optim/optimizer.hpp"
#include "kiln/train/model_folder.hpp"
#include "kiln/train/resolution_scale_option.hpp"
#include "kiln/train/training_loop.hpp"
#include "kiln/train/vlm_tasks.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kEvalSeed = 20261203;
constexpr uint64_t kCandidateStream = 0x7061'636b'7300ULL;
// Candidate samples looked at per step: far more than a pack holds.
constexpr int64_t kCandidatesPerStep = 512;

struct VlmRun {
  models::VlmConfig model;
  VlmTaskOptions task;
  data::PackBudgets budgets;
  data::PackingPolicy packing;
  data::Overlong overlong = data::Overlong::error;
  data::VlmLayout layout = data::VlmLayout::rmpad;
  bool blind = false;  // trained on zeroed image features: the text-only floor
  std::string vision_init;  // a kiln navit run whose encoder the model starts from
  std::string init;         // a kiln vlm run whose whole model the model starts from (a curriculum's next stage)
  bool freeze_vision = false;  // that encoder kept as loaded: only the projector and decoder train
  Precision precision = Precision::f32;  // of the matrix products (train.precision), as kiln train's
  LoopOptions loop;
  int64_t eval_samples = 500;
  fs::path run_dir;
};

data::VlmLayout parse_layout(const std::string& name) {
  if (name == "padded") return data::VlmLayout::padded;
  return name == "padded_all" ? data::VlmLayout::padded_all : data::VlmLayout::rmpad;
}

const char* layout_name(data::VlmLayout layout) {
  const char* names[] = {"rmpad", "padded", "padded_all"};
  return names[static_cast<int>(layout)];
}

// SPEC-VLM §11: a merger or pixel shuffle needs whole 2×2 groups, which
// dropped tokens break. The one-token-per-patch projectors could take dropped
// tokens, but kiln vlm does not drop yet (kiln navit does).
void refuse_token_drop(const std::string& text, models::ProjectorKind projector) {
  if (data::parse_token_drop(text, 1).kind == data::TokenDropSchedule::Kind::none) return;
  KILN_CHECK(projector != models::ProjectorKind::merger && projector != models::ProjectorKind::pixel_shuffle,
             "vision.token_drop needs projector = mlp2x_gelu or linear (a merger needs whole 2×2 groups)");
  fail("vision.token_drop = \"{}\": kiln vlm trains without token dropping (kiln navit drops tokens)", text);
}

VlmRun read_run(const std::string& path, const std::vector<std::string>& overrides) {
  io::ConfigFile f = path.empty() ? io::ConfigFile() : io::ConfigFile::load(path);
  for (const std::string& o : overrides) f.apply_override(o);
  VlmRun r;
  r.model = models::read_vlm_config(f);
  r.run_dir = f.get_string("run.dir", "runs/fmnist-vlm");
  VlmTaskOptions& t = r.task;
  t.kind = parse_vlm_task(f.get_string("data.task", "fashion-canvas", {"fashion-canvas", "kjv-ocr"}));
  t.patch = r.model.vision.patch_size;
  t.merge = r.model.vision.merge_size;
  t.patches_per_token = r.model.patches_per_token();
  const std::vector<double> per_sample = f.get_doubles("data.images_per_sample", {1, 3});
  KILN_CHECK(per_sample.size() == 2, "data.images_per_sample must be [lo, hi], got {} values", per_sample.size());
  t.min_images = static_cast<int64_t>(per_sample[0]);
  t.max_images = static_cast<int64_t>(per_sample[1]);
  t.easy = f.get_bool("data.easy", false);
  t.noise_sigma = f.get_double("data.noise", 0, 0, 1);
  t.image_mode = parse_image_mode(f.get_string("data.image_mode", "native", {"native", "resize", "pad"}));
  t.resolution_scale = read_resolution_scale(f);
  KILN_CHECK(t.resolution_scale.none() || (t.kind == VlmTaskKind::fashion_canvas && t.image_mode == ImageMode::native),
             "data.resolution_scale needs data.task = \"fashion-canvas\" and data.image_mode = \"native\" "
             "(kjv-ocr draws its own text sizes; resize and pad give every image one size)");
  r.budgets.llm_tokens = f.get_int("data.packing_length", 1024, 8, 1 << 20);
  r.budgets.vision_tokens = f.get_int("vision.max_tokens", 4096, 1, 1 << 22);
  r.packing = data::parse_packing_policy(f.get_string("data.pack", "next_fit"));
  r.overlong = data::parse_overlong(f.get_string("data.overlong", "error", {"error", "skip"}));
  r.layout = parse_layout(f.get_string("train.layout", "rmpad", {"rmpad", "padded", "padded_all"}));
  r.blind = f.get_bool("train.blind", false);
  r.vision_init = f.get_string("vision.init", "");
  r.init = f.get_string("train.init", "");
  KILN_CHECK(r.init.empty() || r.vision_init.empty(),
             "train.init and vision.init both given: train.init already starts the encoder");
  r.freeze_vision = f.get_bool("train.freeze_vision", false);
  KILN_CHECK(!r.freeze_vision || !r.vision_init.empty() || !r.init.empty(),
             "train.freeze_vision needs vision.init: a frozen random encoder would never learn to see");
  refuse_token_drop(f.get_string("vision.token_drop", "none"), r.model.projector);
  r.precision = f.get_string("train.precision", "f32", {"f32", "bf16"}) == "bf16" ? Precision::bf16 : Precision::f32;
  LoopOptions& o = r.loop;
  o.label = "vlm";
  o.steps = f.get_int("train.steps", 2000, 1, 1 << 30);
  o.schedule.lr = f.get_double("train.lr", 2e-3, 0, 10);
  o.schedule.min_lr = f.get_double("train.min_lr", 1e-5, 0, 10);
  o.schedule.warmup = f.get_int("train.warmup_steps", 200, 0, 1 << 30);
  o.adamw.weight_decay = f.get_double("train.weight_decay", 0.05, 0, 10);
  o.grad_clip = f.get_double("train.grad_clip", 1.0, 0, 1e6);
  o.eval_every = f.get_int("train.eval_every", 500, 1, 1 << 30);
  o.log_every = f.get_int("train.log_every", 50, 1, 1 << 30);
  o.seed = static_cast<uint64_t>(f.get_int("train.seed", 0, 0, 1LL << 62));
  o.stop_after = f.get_int("train.stop_after", 0, 0, 1 << 30);
  o.unit = "packs";
  r.eval_samples = f.get_int("eval.samples", 500, 1, 1 << 20);
  f.check_all_used();
  r.model.validate();
  KILN_CHECK(r.budgets.llm_tokens <= r.model.decoder.max_seq_len,
             "data.packing_length ({}) exceeds model.max_seq_len ({})", r.budgets.llm_tokens,
             r.model.decoder.max_seq_len);
  return r;
}

// The samples of step `step`: candidates drawn from (seed, step) alone, packed
// under both budgets; data::step_pack picks the step's pack.
std::vector<int64_t> step_samples(const VlmTask& task, const VlmRun& r, int64_t step) {
  const PhiloxKey key{r.loop.seed ^ kCandidateStream, static_cast<uint64_t>(step)};
  std::vector<int64_t> candidates;
  std::vector<data::SampleTokens> sizes;
  int64_t llm = 0;
  for (int64_t k = 0; k < kCandidatesPerStep; ++k) {
    const auto bits = philox_block(key, static_cast<uint64_t>(k));
    const auto index = static_cast<int64_t>(((uint64_t{bits[0]} << 32) | bits[1]) >> 24);  // 40 bits
    candidates.push_back(index);
    sizes.push_back(task.tokens(r.loop.seed, index));
    llm += sizes.back().llm_tokens;
    // next_fit closes its pack at the first overflow; ffd needs its whole window.
    if (r.packing.kind == data::PackingPolicy::Kind::next_fit && llm > r.budgets.llm_tokens) break;
    if (r.packing.kind != data::PackingPolicy::Kind::next_fit && k + 1 >= r.packing.window) break;
  }
  const data::SamplePacks packs = data::pack_samples(sizes, r.budgets, r.packing, r.overlong);
  KILN_CHECK(!packs.packs.empty(), "step {}: every candidate sample was over a budget", step);
  const auto draw = philox_block(key, static_cast<uint64_t>(kCandidatesPerStep));  // past the candidates' counters
  std::vector<int64_t> chosen;
  for (int64_t i : data::step_pack(packs, r.packing, draw[0])) chosen.push_back(candidates[i]);
  return chosen;
}

std::vector<data::VlmSample> render(const VlmTask& task, uint64_t seed, const std::vector<int64_t>& indices) {
  std::vector<data::VlmSample> samples(indices.size());
  // An exception must not leave an OpenMP region (that is std::terminate):
  // each iteration keeps its own, and the first is rethrown after the loop.
  std::vector<std::exception_ptr> errors(indices.size());
#pragma omp parallel for schedule(dynamic)
  for (size_t i = 0; i < indices.size(); ++i) {
    try {
      samples[i] = task.sample(seed, static_cast<int64_t>(indices[i]));
    } catch (...) {
      errors[i] = std::current_exception();
    }
  }
  for (const std::exception_ptr& error : errors)
    if (error) std::rethrow_exception(error);
  return samples;
}

double ratio(int64_t part, int64_t whole) { return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0; }

// SPEC-VLM §10's span-length classes for the CER: 1–2, 3–5 and 6–8 words.
struct SpanClass {
  int64_t edits = 0, characters = 0;
};
constexpr int64_t kSpanClasses = 3;
int64_t span_class(size_t words) { return words <= 2 ? 0 : words <= 5 ? 1 : 2; }
constexpr const char* kSpanClassNames[kSpanClasses] = {"1–2", "3–5", "6–8"};

struct Score {
  int64_t samples = 0;
  int64_t images = 0, images_correct = 0;  // fashion-canvas: per-image exact match
  int64_t edits = 0, characters = 0;       // kjv-ocr: CER = edits / characters
  int64_t word_edits = 0, words = 0;       // kjv-ocr: WER = word edits / words
  SpanClass by_span[kSpanClasses];         // kjv-ocr: the CER by the reference's word count
  int64_t exact = 0;                       // whole answers right
  double seconds = 0;
  double accuracy() const { return ratio(images_correct, images); }
  double cer() const { return ratio(edits, characters); }
  double wer() const { return ratio(word_edits, words); }
  double exact_rate() const { return ratio(exact, samples); }
};

Score evaluate(const models::VlmModel& model, const VlmTask& task, int64_t count, bool blind, bool progress) {
  const auto start = std::chrono::steady_clock::now();
  ProgressBar bar("eval", count, "samples");
  bar.set_enabled(progress && ProgressBar::stderr_is_terminal());
  Score s;
  std::vector<std::string> answers(static_cast<size_t>(count)), expected(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const data::VlmSample sample = task.sample(kEvalSeed, i);
    answers[i] = model.generate(sample.images, sample.prompt, static_cast<int64_t>(sample.answer.size()) + 8, blind);
    expected[i] = sample.answer;
    bar.update(i + 1);
  }
  bar.finish();
  for (int64_t i = 0; i < count; ++i) {
    ++s.samples;
    s.exact += answers[i] == expected[i];
    const auto want = task.answer_parts(expected[i]), got = task.answer_parts(answers[i]);
    for (size_t k = 0; k < want.size(); ++k) {
      ++s.images;
      s.images_correct += k < got.size() && got[k] == want[k];
    }
    const int64_t edits = edit_distance(answers[i], expected[i]), characters = static_cast<int64_t>(expected[i].size());
    s.edits += edits;
    s.characters += characters;
    const size_t words = split_words(expected[i]).size();
    s.word_edits += word_edit_distance(answers[i], expected[i]);
    s.words += static_cast<int64_t>(words);
    SpanClass& span = s.by_span[span_class(words)];
    span.edits += edits;
    span.characters += characters;
  }
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

void record_score(const Score& s, VlmTaskKind kind, nlohmann::json& record) {
  if (kind == VlmTaskKind::fashion_canvas) {
    record["val_accuracy"] = s.accuracy();
  } else {
    record["val_cer"] = s.cer();
    record["val_wer"] = s.wer();
  }
  record["val_exact"] = s.exact_rate();
}

std::string describe(const Score& s, VlmTaskKind kind) {
  if (kind == VlmTaskKind::fashion_canvas)
    return fmt::format("per-image accuracy {:.2f}% ({} of {} garments), exact answers {:.2f}% of {} samples",
                       100 * s.accuracy(), s.images_correct, s.images, 100 * s.exact_rate(), s.samples);
  std::string by_span;
  for (int64_t c = 0; c < kSpanClasses; ++c)
    if (s.by_span[c].characters > 0)
      by_span += fmt::format("{}{} words {:.2f}%", by_span.empty() ? "" : ", ", kSpanClassNames[c],
                             100 * ratio(s.by_span[c].edits, s.by_span[c].characters));
  return fmt::format("CER {:.2f}% ({} edits over {} characters), WER {:.2f}%, exact lines {:.2f}% of {}; CER by span: {}",
                     100 * s.cer(), s.edits, s.characters, 100 * s.wer(), 100 * s.exact_rate(), s.samples, by_span);
}

struct LoadedVlm {
  models::VlmModel model;
  nlohmann::json config;
};

LoadedVlm load_vlm(const fs::path& run) {
  ModelFolder folder = load_model_folder(run, "a kiln vision-language run");
  models::VlmModel model(models::vlm_config_from_json(folder.config, (folder.dir / "config.json").string()), 0);
  model.load_parameters(folder.weights);
  return {std::move(model), folder.config};
}

VlmTaskOptions task_of(const models::VlmConfig& c, const nlohmann::json& config) {
  VlmTaskOptions t;
  const nlohmann::json task = config.value("kiln_task", nlohmann::json::object());
  t.kind = parse_vlm_task(task.value("task", "fashion-canvas"));
  t.easy = task.value("easy", false);
  t.min_images = task.value("min_images", int64_t{1});
  t.max_images = task.value("max_images", int64_t{3});
  t.image_mode = parse_image_mode(task.value("image_mode", "native"));
  t.patch = c.vision.patch_size;
  t.merge = c.vision.merge_size;
  t.patches_per_token = c.patches_per_token();
  return t;
}

nlohmann::json task_json(const VlmTaskOptions& t) {
  return {{"task", vlm_task_name(t.kind)}, {"easy", t.easy}, {"min_images", t.min_images},
          {"max_images", t.max_images}, {"image_mode", data::image_mode_name(t.image_mode)}};
}

// vision_config without the position-table bounds, which only size tables
// (whose shapes the weights check).
nlohmann::json encoder_identity(nlohmann::json vision_config) {
  if (vision_config.contains("kiln")) {
    vision_config["kiln"].erase("max_rows");
    vision_config["kiln"].erase("max_cols");
  }
  return vision_config;
}

// Every value of `ours` (flattened) must be the same in `theirs`: one line
// naming the first that is not.
void require_same_config(const nlohmann::json& theirs, const nlohmann::json& ours, const std::string& option,
                         const std::string& config_path, const std::string& prefix, const std::string& this_model) {
  const nlohmann::json flat = theirs.flatten(), wanted = ours.flatten();
  for (const auto& [key, value] : wanted.items()) {
    const auto it = flat.find(key);
    KILN_CHECK(it != flat.end() && *it == value, "{}: {} has {}{} = {}, {} has {}", option, config_path, prefix, key,
               it == flat.end() ? std::string("(none)") : it->dump(), this_model, value.dump());
  }
}

// vision.init: the encoder of a trained kiln navit (or kiln vlm) run, whose
// vision_config must describe the same encoder.
void start_vision_encoder(models::VlmModel& model, const std::string& source) {
  const ModelFolder folder = load_model_folder(source, "a kiln navit run");
  const std::string config_path = (folder.dir / "config.json").string();
  KILN_CHECK(folder.config.contains("vision_config"), "{} has no vision_config: vision.init needs a kiln navit run",
             config_path);
  require_same_config(encoder_identity(folder.config["vision_config"]),
                      encoder_identity(models::vlm_config_json(model.config())["vision_config"]), "vision.init",
                      config_path, "vision_config", "this model's [vision]");
  model.load_vision_encoder(folder.weights, config_path);
}

// train.init: every tensor of a trained kiln vlm run (encoder, projector,
// decoder), whose model must be this one: the next stage of a curriculum
// (easy OCR lines, then the full task) with a fresh schedule and optimiser.
void start_from_vlm_run(models::VlmModel& model, const std::string& source) {
  const ModelFolder folder = load_model_folder(source, "a kiln vlm run");
  const std::string config_path = (folder.dir / "config.json").string();
  KILN_CHECK(folder.config.contains("vision_config") && folder.config.contains("kiln_task"),
             "{} is not a kiln vlm run: train.init needs one (vision.init takes a navit's encoder)", config_path);
  nlohmann::json theirs = folder.config, ours = models::vlm_config_json(model.config());
  theirs["vision_config"] = encoder_identity(theirs["vision_config"]);
  ours["vision_config"] = encoder_identity(ours["vision_config"]);
  require_same_config(theirs, ours, "train.init", config_path, "", "this model");
  model.load_parameters(folder.weights);
}

}  // namespace

void run_vlm_training(const VlmRunOptions& a) {
  VlmRun r = read_run(a.config, a.overrides);
  r.loop.resume = a.resume;
  const VlmTask train_task(r.task, data::DataSplit::train), test_task(r.task, data::DataSplit::test);
  models::VlmModel model(r.model, r.loop.seed + 1);
  // On resume the trainer state holds every parameter.
  if (!r.vision_init.empty() && !a.resume) start_vision_encoder(model, r.vision_init);
  if (!r.init.empty() && !a.resume) start_from_vlm_run(model, r.init);
  nlohmann::json config = models::vlm_config_json(r.model);
  config["kiln_task"] = task_json(r.task);
  config["kiln_task"]["trained_blind"] = r.blind;
  if (!r.task.resolution_scale.none())
    config["kiln_task"]["resolution_scale"] = {r.task.resolution_scale.lo, r.task.resolution_scale.hi};
  if (!r.vision_init.empty()) config["kiln_task"]["vision_init"] = r.vision_init;
  if (!r.init.empty()) config["kiln_task"]["init"] = r.init;
  if (r.freeze_vision) config["kiln_task"]["freeze_vision"] = true;
  fmt::print(stderr, "VLM: {} parameters ({} vision, projector {}, decoder {}×{}); task {}, layout {}, packs of {} LLM / {} ViT tokens{}{}\n",
             r.model.parameter_count(), r.model.vision.parameter_count(), models::projector_name(r.model.projector),
             r.model.decoder.n_layer, r.model.decoder.d_model, vlm_task_name(r.task.kind),
             layout_name(r.layout), r.budgets.llm_tokens, r.budgets.vision_tokens,
             r.vision_init.empty() ? "" : "; vision encoder from " + r.vision_init + (r.freeze_vision ? " (frozen)" : ""),
             r.init.empty() ? "" : "; started from " + r.init + (r.freeze_vision ? " (encoder frozen)" : ""));
  r.loop.identity = {{"steps", r.loop.steps}, {"seed", r.loop.seed}, {"lr", r.loop.schedule.lr},
                     {"layout", layout_name(r.layout)},
                     {"packing_length", r.budgets.llm_tokens}, {"task", vlm_task_name(r.task.kind)}};
  if (r.blind) r.loop.identity["blind"] = true;  // absent otherwise: earlier runs stay resumable
  if (r.freeze_vision) r.loop.identity["freeze_vision"] = true;
  if (!r.task.resolution_scale.none())
    r.loop.identity["resolution_scale"] = {r.task.resolution_scale.lo, r.task.resolution_scale.hi};
  // Said once before the first step, so that the GEMM probe is not timed as training.
  if (r.precision == Precision::bf16) fmt::print(stderr, "bf16: {}\n", cpu::bf16_gemm_choice().reason);
  int64_t real_tokens = 0, slots = 0;
  const auto step = [&](int64_t s, nlohmann::json& record) {
    PrecisionGuard precision(r.precision);
    const std::vector<data::VlmSample> samples = render(train_task, r.loop.seed, step_samples(train_task, r, s));
    const data::VlmBatch batch = data::make_vlm_batch(samples, r.model.patches_per_token(), r.layout);
    real_tokens += batch.real_tokens;
    slots += batch.token_slots;
    record["samples"] = samples.size();
    record["llm_tokens"] = batch.real_tokens;
    record["vision_tokens"] = batch.patches.size(0);
    record["padding"] = 1.0 - static_cast<double>(batch.real_tokens) / static_cast<double>(batch.token_slots);
    return backward_loss(model.loss(batch, {.blind = r.blind, .freeze_vision = r.freeze_vision}));
  };
  const auto evaluate_step = [&](int64_t, nlohmann::json& record) {
    NoGradGuard no_grad;
    PrecisionGuard precision(r.precision);
    record_score(evaluate(model, test_task, std::min<int64_t>(r.eval_samples, 200), r.blind, false), r.task.kind,
                 record);
    save_model_folder(r.run_dir / "model", config, model.parameters());
  };
  fs::create_directories(r.run_dir);
  const LoopResult result = run_training_loop(model.parameters(), optim::gradient_trained(model.parameters()),
                                              {.step = step, .evaluate = evaluate_step}, r.loop, r.run_dir);
  save_model_folder(r.run_dir / "model", config, model.parameters());
  const double seconds = result.seconds;
  fmt::print("trained steps {}–{} in {:.1f} s: {:.0f} LLM tokens/s ({:.1f}% of the slots were padding)\n",
             result.first_step + 1, result.last_step, seconds, static_cast<double>(real_tokens) / seconds,
             slots > 0 ? 100.0 * (1.0 - static_cast<double>(real_tokens) / static_cast<double>(slots)) : 0.0);
  NoGradGuard no_grad;
  PrecisionGuard precision(r.precision);
  const Score score = evaluate(model, test_task, r.eval_samples, r.blind, true);
  fmt::print("test{}: {}\nmodel: {}\n", r.blind ? " (trained and evaluated blind)" : "", describe(score, r.task.kind),
             (r.run_dir / "model").string());
}

void run_vlm_evaluation(const VlmRunOptions& a) {
  const LoadedVlm loaded = load_vlm(a.run);
  const VlmTask test_task(task_of(loaded.model.config(), loaded.config), data::DataSplit::test);
  const int64_t count = a.samples > 0 ? a.samples : 500;
  // A model trained blind never learned to read image features: evaluate it blind.
  const bool blind =
      a.blind || loaded.config.value("kiln_task", nlohmann::json::object()).value("trained_blind", false);
  NoGradGuard no_grad;
  const Score score = evaluate(loaded.model, test_task, count, blind, true);
  fmt::print("{}{} ({:.1f} s, {:.1f} samples/s)\n", blind ? "blind (image features zeroed): " : "",
             describe(score, test_task.options().kind), score.seconds, static_cast<double>(count) / score.seconds);
}

void run_vlm_generation(const VlmRunOptions& a) {
  const LoadedVlm loaded = load_vlm(a.run);
  const models::VlmConfig& c = loaded.model.config();
  const VlmTaskOptions task = task_of(c, loaded.config);
  const Tensor pixels = data::read_image_file(a.image, static_cast<int>(c.vision.channels));
  data::PlanarImage image = data::image_from_bytes(pixels.data<uint8_t>(), pixels.size(0), pixels.size(1),
                                                   pixels.size(2));
  data::ResizeLimits limits = data::kFashionCanvasLimits;
  limits.patch = c.vision.patch_size;
  limits.merge = c.vision.merge_size;
  if (task.kind == VlmTaskKind::kjv_ocr) limits.max_pixels = 24 * 448;
  const data::ImageSize size = data::smart_resize(image.size(), limits, a.image);
  if (!(size == image.size())) image = data::resize_image(image, size);
  image = shape_for_mode(std::move(image), task);
  normalize_task_pixels(image, task.kind);
  NoGradGuard no_grad;
  const std::string answer =
      loaded.model.generate({sample_image(image, c.vision.patch_size, c.vision.merge_size)}, a.prompt, a.max_new);
  fmt::print("{}\n", answer);
}

}  // namespace kiln::train
