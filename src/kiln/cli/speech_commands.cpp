// CPC pre-training on the synthesised speech set (`kiln train` with
// model.arch = "cpc"), the speaker-ID linear probe (`kiln probe`), online
// detectors over keyword streams (`kiln train` with model.arch = "oadtr" or
// "gru") and `kiln detect`, which scores a stream split (per-frame mAP) or
// runs a detector over WAV files one frame at a time and prints what it found.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <variant>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "kiln/autograd/engine.hpp"
#include "kiln/io/json_field.hpp"
#include "kiln/cli/training_runs.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/progress.hpp"
#include "kiln/cli/commands.hpp"
#include "kiln/data/keyword_stream.hpp"
#include "kiln/data/wav.hpp"
#include "kiln/models/cpc/cpc.hpp"
#include "kiln/models/cpc/cpc_config_io.hpp"
#include "kiln/models/oadtr/detector_config_io.hpp"
#include "kiln/models/oadtr/oadtr.hpp"
#include "kiln/io/config_file.hpp"
#include "kiln/train/detection.hpp"
#include "kiln/train/frame_metrics.hpp"
#include "kiln/train/model_folder.hpp"
#include "kiln/train/speech_features.hpp"
#include "kiln/train/training_loop.hpp"

namespace kiln::cli {

namespace fs = std::filesystem;

namespace {

// ------------------------------------------------------------------ CPC

std::unique_ptr<models::CpcModel> load_cpc(const fs::path& run) {
  const train::ModelFolder folder = train::load_model_folder(run, "a kiln CPC run");
  auto model = std::make_unique<models::CpcModel>(models::cpc_config_from_json(folder.config, (folder.dir / "config.json").string()), 0);
  model->load_parameters(folder.weights);
  return model;
}

std::string join_accuracies(const std::vector<double>& accuracy) {
  std::string out;
  for (double a : accuracy) out += fmt::format("{}{:.3f}", out.empty() ? "" : " ", a);
  return out;
}

}  // namespace

void run_cpc_pretraining(io::ConfigFile& f, bool resume) {
  const fs::path run_dir = f.get_string("run.dir", "runs/speech-cpc");
  const fs::path speech = f.get_string("data.speech", "data/speech");
  f.get_string("model.arch", "cpc", {"cpc"});
  models::CpcConfig c = models::read_cpc_config(f);
  train::LoopOptions o;
  o.steps = f.get_int("train.steps", 2000, 1, 1 << 30);
  const int64_t batch = f.get_int("train.batch_size", 16, 1, 1 << 14);
  const int64_t window = f.get_int("train.window", 20480, 1600, 1 << 24);
  o.schedule.lr = f.get_double("train.lr", 3e-4, 0, 10);
  o.schedule.min_lr = f.get_double("train.min_lr", 1e-5, 0, 10);
  o.schedule.warmup = f.get_int("train.warmup_steps", 100, 0, 1 << 30);
  o.adamw.weight_decay = f.get_double("train.weight_decay", 0.0, 0, 10);
  o.grad_clip = f.get_double("train.grad_clip", 1.0, 0, 1e6);
  o.eval_every = f.get_int("train.eval_every", 250, 1, 1 << 30);
  const int64_t eval_windows = f.get_int("train.eval_windows", 64, 1, 1 << 16);
  const auto seed = static_cast<uint64_t>(f.get_int("train.seed", 1, 0, 1LL << 62));
  f.check_all_used();
  KILN_CHECK(window % models::kCpcDownsampling == 0, "train.window must be a multiple of {} samples, got {}",
             models::kCpcDownsampling, window);
  const int64_t frames = models::cpc_frames(window);
  KILN_CHECK(frames > c.steps, "train.window gives {} frames, not more than model.steps = {}", frames, c.steps);

  const train::AudioClips train_clips = train::load_speech_clips(speech, "train");
  const train::AudioClips valid_clips = train::load_speech_clips(speech, "valid");
  models::CpcModel model(c, seed);
  fmt::print(stderr, "CPC: {} parameters, windows of {} samples → {} frames, K = {}, {} negatives; {} training and {} validation utterances\n",
             c.parameter_count(), window, frames, c.steps, c.negatives, train_clips.size(), valid_clips.size());
  o.items_per_step = batch * frames;
  o.unit = "frames";
  o.seed = seed;
  o.resume = resume;

  const Tensor valid_windows = train::random_audio_windows(valid_clips.audio, eval_windows, window, seed + 1, 0);
  const std::vector<int64_t> valid_negatives = models::cpc_negative_indices(c, eval_windows, frames, seed + 1, 0);
  const auto loss = [&](int64_t step, nlohmann::json& record) {
    const Tensor waves = train::random_audio_windows(train_clips.audio, batch, window, seed, static_cast<uint64_t>(step));
    const models::CpcLoss l = model.loss(waves, models::cpc_negative_indices(c, batch, frames, seed, static_cast<uint64_t>(step)));
    record["accuracy"] = l.accuracy;
    backward(l.loss);
    return train::StepLoss{l.loss.item(), l.loss.item()};
  };
  const auto evaluate = [&](int64_t, nlohmann::json& record) {
    NoGradGuard no_grad;
    const models::CpcLoss l = model.loss(valid_windows, valid_negatives);
    record["val_loss"] = l.loss.item();
    record["val_accuracy"] = l.accuracy;
    record["val_step_loss"] = l.step_loss;
    record["val_accuracy_k1"] = l.accuracy.front();
    record["val_accuracy_kK"] = l.accuracy.back();
    train::save_model_folder(run_dir / "model", models::cpc_config_json(c, window), model.parameters());
  };
  fs::create_directories(run_dir);
  const train::LoopResult result = train::run_training_loop(
      model.parameters(), optim::gradient_trained(model.parameters()), {.step = loss, .evaluate = evaluate}, o, run_dir);
  NoGradGuard no_grad;
  const models::CpcLoss final_loss = model.loss(valid_windows, valid_negatives);
  nlohmann::json summary = {{"steps", result.last_step},
                            {"seconds", result.seconds},
                            {"frames_per_s", result.items_per_second},
                            {"val_loss", final_loss.loss.item()},
                            {"val_accuracy", final_loss.accuracy},
                            {"val_step_loss", final_loss.step_loss},
                            {"chance_loss", std::log(static_cast<double>(c.negatives + 1))}};
  std::ofstream(run_dir / "summary.json") << summary.dump(2) << "\n";
  fmt::print("trained {} steps in {:.0f} s ({:.0f} frames/s); validation InfoNCE {:.4f} (chance {:.4f})\n", result.last_step,
             result.seconds, result.items_per_second, final_loss.loss.item(), std::log(static_cast<double>(c.negatives + 1)));
  fmt::print("InfoNCE accuracy per step k = 1..{} (chance {:.3f}): {}\n", c.steps, 1.0 / static_cast<double>(c.negatives + 1),
             join_accuracies(final_loss.accuracy));
  fmt::print("model: {}\n", (run_dir / "model").string());
}

namespace {

struct ProbeArgs {
  std::string run, speech = "data/speech", features = "cpc,random,logmel", train_split = "train",
              test_split = "test";
  int64_t epochs = 10;
  double lr = 1e-3;
  int n_mels = 40;
};

void run_probe(const ProbeArgs& a) {
  std::vector<std::string> kinds;
  for (size_t start = 0; start <= a.features.size();) {
    const size_t comma = std::min(a.features.find(',', start), a.features.size());
    const std::string kind = a.features.substr(start, comma - start);
    KILN_CHECK(kind == "cpc" || kind == "random" || kind == "logmel", "--features: unknown kind '{}' (cpc, random, logmel)",
               kind);
    kinds.push_back(kind);
    start = comma + 1;
  }
  const bool needs_run = std::find(kinds.begin(), kinds.end(), "logmel") == kinds.end() || kinds.size() > 1;
  KILN_CHECK(!needs_run || !a.run.empty(), "--run is needed for CPC features (the random encoder takes its shape)");
  const train::AudioClips train_clips = train::load_speech_clips(a.speech, a.train_split);
  const train::AudioClips test_clips = train::load_speech_clips(a.speech, a.test_split);
  const auto classes = static_cast<int64_t>(train_clips.class_names.size());
  fmt::print("speaker identification on {}: {} speakers, {} training and {} test utterances (chance {:.1f}%)\n", a.speech,
             classes, train_clips.size(), test_clips.size(), 100.0 / static_cast<double>(classes));
  std::unique_ptr<models::CpcModel> trained, random;
  if (!a.run.empty()) {
    trained = load_cpc(a.run);
    random = std::make_unique<models::CpcModel>(trained->config(), 12345);
  }
  nlohmann::json results = nlohmann::json::object();
  fmt::print("{:<28} {:>5} {:>10} {:>10} {:>9}\n", "features", "dim", "train acc", "test acc", "seconds");
  for (const std::string& kind : kinds) {
    const train::FrameFeaturizer featurizer = kind == "logmel" ? train::log_mel_featurizer(a.n_mels)
                                              : kind == "cpc"  ? train::cpc_featurizer(*trained)
                                                               : train::cpc_featurizer(*random);
    const train::FrameSet train_set = train::clip_frames(train_clips, featurizer);
    const train::FrameSet test_set = train::clip_frames(test_clips, featurizer);
    train::ProbeOptions po;
    po.epochs = a.epochs;
    po.lr = a.lr;
    const train::ProbeResult r = train::train_linear_probe(train_set, test_set, classes, po);
    const std::string label = kind == "cpc" ? "CPC c_t (trained)" : kind == "random" ? "CPC c_t (random init)" : fmt::format("log-mel ({})", a.n_mels);
    fmt::print("{:<28} {:>5} {:>9.2f}% {:>9.2f}% {:>9.1f}\n", label, train_set.dim, 100 * r.train_accuracy,
               100 * r.test_accuracy, r.seconds);
    results[kind] = {{"dim", train_set.dim},
                     {"train_accuracy", r.train_accuracy},
                     {"test_accuracy", r.test_accuracy},
                     {"train_frames", train_set.frames()},
                     {"test_frames", test_set.frames()},
                     {"epochs", a.epochs}};
  }
  if (!a.run.empty()) {
    std::ofstream out(fs::path(a.run) / "probe.json");
    out << results.dump(2) << "\n";
  }
}

// ------------------------------------------------------------------ detectors

class Detector {
 public:
  explicit Detector(models::OadtrModel model) : model_(std::move(model)) {}
  explicit Detector(models::GruDetector model) : model_(std::move(model)) {}

  std::map<std::string, Tensor>& parameters() {
    return std::visit([](auto& m) -> std::map<std::string, Tensor>& { return m.parameters(); }, model_);
  }
  Tensor logits(const Tensor& windows) const {
    return std::visit([&](const auto& m) { return m.forward(windows).current; }, model_);
  }
  models::DetectorLoss loss(const train::DetectionBatch& b, const PhiloxKey& key) const {
    if (const auto* oadtr = std::get_if<models::OadtrModel>(&model_))
      return oadtr->loss(b.windows, b.current, b.future, true, key);
    return std::get<models::GruDetector>(model_).loss(b.windows, b.current);
  }
  int64_t queries() const {
    const auto* oadtr = std::get_if<models::OadtrModel>(&model_);
    return oadtr ? oadtr->config().queries : 0;
  }

 private:
  std::variant<models::OadtrModel, models::GruDetector> model_;
};

struct StreamFeatures {
  std::vector<train::FrameSet> streams;
  std::vector<fs::path> files;
  std::vector<std::string> classes;
};

struct FeatureSource {
  std::string kind = "logmel";  // or "cpc"
  std::string cpc_run;
  int n_mels = 40;
  std::unique_ptr<models::CpcModel> cpc;

  train::FrameFeaturizer featurizer() {
    if (kind == "logmel") return train::log_mel_featurizer(n_mels);
    if (!cpc) cpc = load_cpc(cpc_run);
    return train::cpc_featurizer(*cpc);
  }
  nlohmann::json json() const { return {{"kind", kind}, {"cpc_run", cpc_run}, {"n_mels", n_mels}}; }
};

StreamFeatures stream_features(const fs::path& folder, const std::string& split, FeatureSource& source) {
  const data::StreamSet set = data::read_stream_set(folder, split);
  KILN_CHECK(!set.streams.empty(), "{}: the {} split has no streams", folder.string(), split);
  const train::FrameFeaturizer featurizer = source.featurizer();
  StreamFeatures out;
  out.classes = set.classes;
  ProgressBar bar(fmt::format("{} features", featurizer.name), static_cast<int64_t>(set.streams.size()), "stream");
  for (const data::LabelledStream& s : set.streams) {
    train::FrameSet frames;
    frames.dim = featurizer.dim;
    frames.features = featurizer.compute(data::read_wav(s.audio));
    const auto n = static_cast<int64_t>(frames.features.size()) / frames.dim;
    KILN_CHECK(n == static_cast<int64_t>(s.frame_labels.size()), "{}: {} feature frames but {} labels",
               s.audio.string(), n, s.frame_labels.size());
    frames.labels = s.frame_labels;
    out.streams.push_back(std::move(frames));
    out.files.push_back(s.audio);
    bar.update(static_cast<int64_t>(out.streams.size()));
  }
  bar.finish();
  return out;
}

struct MapReport {
  train::FrameMap map;
  int64_t frames = 0;
  double frame_accuracy = 0;
};

MapReport evaluate_streams(const Detector& detector, const StreamFeatures& data, int64_t window) {
  const auto classes = static_cast<int64_t>(data.classes.size());
  std::vector<float> scores;
  std::vector<int32_t> labels;
  for (const train::FrameSet& s : data.streams) {
    const std::vector<float> part =
        train::score_stream(s, [&](const Tensor& w) { return detector.logits(w); }, window, classes);
    scores.insert(scores.end(), part.begin(), part.end());
    labels.insert(labels.end(), s.labels.begin(), s.labels.end());
  }
  MapReport report;
  report.map = train::frame_map(scores, labels, classes);
  report.frames = static_cast<int64_t>(labels.size());
  int64_t correct = 0;
  for (size_t f = 0; f < labels.size(); ++f) {
    const float* row = scores.data() + f * static_cast<size_t>(classes);
    correct += (std::max_element(row, row + classes) - row) == labels[f];
  }
  report.frame_accuracy = static_cast<double>(correct) / static_cast<double>(labels.size());
  return report;
}

nlohmann::json detector_json(const std::string& arch, const models::OadtrConfig& m, const models::GruDetectorConfig& g,
                             const FeatureSource& source, const std::vector<std::string>& classes) {
  nlohmann::json j = {{"model_type", arch}, {"features", source.json()}, {"classes", classes}};
  j.update(arch == "oadtr" ? models::oadtr_config_json(m) : models::gru_detector_config_json(g));
  return j;
}

struct LoadedDetector {
  std::unique_ptr<Detector> detector;
  FeatureSource source;
  std::vector<std::string> classes;
  int64_t window = 0;
  std::string arch;
};

LoadedDetector load_detector(const fs::path& run) {
  const train::ModelFolder folder = train::load_model_folder(run, "a kiln oadtr/gru detector run");
  const nlohmann::json& j = folder.config;
  LoadedDetector out;
  out.arch = j.value("model_type", "");
  KILN_CHECK(out.arch == "oadtr" || out.arch == "gru", "{}: not a detector (model_type '{}')", folder.dir.string(), out.arch);
  const std::string src = (folder.dir / "config.json").string();
  constexpr int64_t kWidth = int64_t{1} << 16;  // far beyond any detector this CPU could run
  const nlohmann::json features = io::json_field<nlohmann::json>(j, "features", src);
  out.source.kind = io::json_field<std::string>(features, "kind", src);
  out.source.cpc_run = io::json_field<std::string>(features, "cpc_run", src);
  out.source.n_mels = io::json_int(features, "n_mels", 1, 1024, src);
  out.classes = io::json_field<std::vector<std::string>>(j, "classes", src);
  const int64_t classes = io::json_int(j, "num_classes", 2, 4096, src);
  KILN_CHECK(static_cast<int64_t>(out.classes.size()) == classes, "{}: 'classes' names {} classes, num_classes is {}",
             src, out.classes.size(), classes);
  out.window = io::json_int(j, "window", 1, kWidth, src);
  if (out.arch == "oadtr") {
    const models::OadtrConfig m = models::oadtr_config_from_json(j, out.window, classes, src);
    models::OadtrModel model(m, 0);
    model.load_parameters(folder.weights);
    out.detector = std::make_unique<Detector>(std::move(model));
  } else {
    const models::GruDetectorConfig g = models::gru_detector_config_from_json(j, out.window, classes, src);
    models::GruDetector model(g, 0);
    model.load_parameters(folder.weights);
    out.detector = std::make_unique<Detector>(std::move(model));
  }
  return out;
}

void print_map(const MapReport& r, const std::vector<std::string>& classes, const std::string& title) {
  fmt::print("{}: per-frame mAP {:.2f}% over {} action classes ({} frames, frame accuracy {:.2f}%)\n", title,
             100 * r.map.mean, classes.size() - 1, r.frames, 100 * r.frame_accuracy);
  std::string line;
  for (size_t c = 1; c < classes.size(); ++c)
    line += fmt::format("  {} {:.1f}", classes[c], 100 * r.map.per_class[c]);
  fmt::print("AP per class:{}\n", line);
}

nlohmann::json map_json(const MapReport& r, const std::vector<std::string>& classes) {
  nlohmann::json per_class = nlohmann::json::object();
  for (size_t c = 1; c < classes.size(); ++c) per_class[classes[c]] = r.map.per_class[c];
  return {{"map", r.map.mean}, {"frames", r.frames}, {"frame_accuracy", r.frame_accuracy}, {"ap", per_class}};
}

}  // namespace

void run_detector_training(io::ConfigFile& f, bool resume) {
  const std::string arch = f.get_string("model.arch", "oadtr", {"oadtr", "gru"});
  const fs::path run_dir = f.get_string("run.dir", arch == "oadtr" ? "runs/streams-oadtr" : "runs/streams-gru");
  const fs::path streams = f.get_string("data.streams", "data/streams");
  FeatureSource source;
  source.kind = f.get_string("data.features", "logmel", {"logmel", "cpc"});
  source.cpc_run = f.get_string("data.cpc_run", source.kind == "cpc" ? "runs/speech-cpc" : "");
  source.n_mels = static_cast<int>(f.get_int("data.n_mels", 40, 8, 256));
  const int64_t window = f.get_int("model.window", 64, 1, 4096);
  models::OadtrConfig m;
  models::GruDetectorConfig g;
  if (arch == "oadtr")
    m = models::read_oadtr_config(f, window);
  else
    g = models::read_gru_detector_config(f, window);
  m.window = g.window = window;
  train::LoopOptions o;
  o.steps = f.get_int("train.steps", 2000, 1, 1 << 30);
  const int64_t batch = f.get_int("train.batch_size", 64, 1, 1 << 14);
  o.schedule.lr = f.get_double("train.lr", 1e-3, 0, 10);
  o.schedule.min_lr = f.get_double("train.min_lr", 1e-6, 0, 10);
  o.schedule.warmup = f.get_int("train.warmup_steps", 100, 0, 1 << 30);
  o.adamw.weight_decay = f.get_double("train.weight_decay", 1e-4, 0, 10);
  o.grad_clip = f.get_double("train.grad_clip", 1.0, 0, 1e6);
  o.eval_every = f.get_int("train.eval_every", 500, 1, 1 << 30);
  const auto seed = static_cast<uint64_t>(f.get_int("train.seed", 20, 0, 1LL << 62));
  f.check_all_used();

  const StreamFeatures train_data = stream_features(streams, "train", source);
  const StreamFeatures valid_data = stream_features(streams, "valid", source);
  const int64_t dim = train_data.streams.front().dim;
  m.feature_dim = g.feature_dim = dim;
  m.classes = g.classes = static_cast<int64_t>(train_data.classes.size());
  Detector detector = arch == "oadtr" ? Detector(models::OadtrModel(m, seed)) : Detector(models::GruDetector(g, seed));
  int64_t total_frames = 0;
  for (const train::FrameSet& s : train_data.streams) total_frames += s.frames();
  fmt::print(stderr, "{}: {} features ({} dims), {} training streams ({} frames), window {} frames\n", arch, source.kind,
             dim, train_data.streams.size(), total_frames, m.window);
  o.items_per_step = batch;
  o.unit = "windows";
  o.seed = seed;
  o.resume = resume;
  const nlohmann::json config = detector_json(arch, m, g, source, train_data.classes);
  const auto loss = [&](int64_t step, nlohmann::json& record) {
    const train::DetectionBatch b = train::detection_batch(
        train_data.streams, train::random_window_ends(train_data.streams, batch, seed, static_cast<uint64_t>(step)),
        m.window, detector.queries());
    const models::DetectorLoss l = detector.loss(b, PhiloxKey{seed, static_cast<uint64_t>(step)});
    if (l.future_loss.defined()) {
      record["current_loss"] = l.current_loss.item();
      record["future_loss"] = l.future_loss.item();
    }
    backward(l.loss);
    return train::StepLoss{l.loss.item(), l.loss.item()};
  };
  const auto evaluate = [&](int64_t, nlohmann::json& record) {
    const MapReport r = evaluate_streams(detector, valid_data, m.window);
    record["val_map"] = r.map.mean;
    record["val_frame_accuracy"] = r.frame_accuracy;
    train::save_model_folder(run_dir / "model", config, detector.parameters());
  };
  fs::create_directories(run_dir);
  const train::LoopResult result = train::run_training_loop(
      detector.parameters(), optim::gradient_trained(detector.parameters()), {.step = loss, .evaluate = evaluate}, o,
      run_dir);
  const StreamFeatures test_data = stream_features(streams, "test", source);
  const MapReport test = evaluate_streams(detector, test_data, m.window);
  print_map(test, test_data.classes, fmt::format("{} on {} features, test split", arch, source.kind));
  nlohmann::json summary = {{"steps", result.last_step}, {"seconds", result.seconds}, {"windows_per_s", result.items_per_second},
                            {"test", map_json(test, test_data.classes)}};
  std::ofstream(run_dir / "summary.json") << summary.dump(2) << "\n";
  fmt::print("trained {} steps in {:.0f} s; model: {}\n", result.last_step, result.seconds, (run_dir / "model").string());
}

namespace {

struct DetectArgs {
  std::string run, streams = "data/streams", split;
  std::vector<std::string> files;
  int64_t min_frames = 5;
};

// With the stream's own labels beside the WAV (as `kiln data streams` writes
// them): how many labelled keywords a detected segment of the same class overlaps.
template <typename Segments>
void report_against_labels(const fs::path& labels_path, const Segments& found, const std::vector<std::string>& classes) {
  std::ifstream in(labels_path);
  if (!in.good()) return;
  std::vector<int64_t> labels;
  for (int64_t v = 0; in >> v;) labels.push_back(v);
  int64_t keywords = 0, hit = 0, matched = 0;
  for (size_t t = 0; t < labels.size();) {
    size_t end = t;
    while (end < labels.size() && labels[end] == labels[t]) ++end;
    if (labels[t] > 0 && labels[t] < static_cast<int64_t>(classes.size())) {
      ++keywords;
      bool seen = false;
      for (const auto& s : found)
        seen = seen || (s.label == labels[t] && s.start < static_cast<int64_t>(end) && s.end > static_cast<int64_t>(t));
      hit += seen;
    }
    t = end;
  }
  for (const auto& s : found) {
    bool real = false;
    for (int64_t t = s.start; t < std::min<int64_t>(s.end, static_cast<int64_t>(labels.size())); ++t)
      real = real || labels[static_cast<size_t>(t)] == s.label;
    matched += real;
  }
  fmt::print("  against {}: {} of {} labelled keywords found; {} of {} detections are a labelled keyword\n",
             labels_path.filename().string(), hit, keywords, matched, found.size());
}

// Segments of one class among the per-frame decisions, as they are made.
class SegmentTracker {
 public:
  struct Segment {
    int64_t start, end, label;
  };
  SegmentTracker(const std::vector<std::string>& classes, int64_t min_frames) : classes_(classes), min_(min_frames) {}

  void add(int64_t t, const std::vector<float>& logits) {
    const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
    double total = 0;
    for (float l : logits) total += std::exp(static_cast<double>(l - logits[static_cast<size_t>(best)]));
    if (best != run_class_) {
      close(t);
      run_class_ = best;
      run_start_ = t;
      run_score_ = 0;
    }
    run_score_ += 1.0 / total;
  }
  void close(int64_t end) {
    if (run_class_ != 0 && end - run_start_ >= min_) {
      found_.push_back({run_start_, end, run_class_});
      fmt::print("  {:7.2f} – {:7.2f} s  {:<10} mean p {:.2f}\n", static_cast<double>(run_start_) * 0.01,
                 static_cast<double>(end) * 0.01, classes_[static_cast<size_t>(run_class_)],
                 run_score_ / static_cast<double>(end - run_start_));
    }
    run_class_ = 0;
  }
  const std::vector<Segment>& found() const { return found_; }

 private:
  const std::vector<std::string>& classes_;
  int64_t min_;
  int64_t run_class_ = 0, run_start_ = 0;
  double run_score_ = 0;
  std::vector<Segment> found_;
};

// Each file as a live source: 10 ms of samples at a time into the feature
// stream (log-mel), the detector on every frame the stream completes, over
// the last `window` frames. CPC features need the whole recording, so they
// are computed first and only the detector runs frame by frame.
void detect_files(const DetectArgs& a) {
  LoadedDetector d = load_detector(a.run);
  const train::FrameFeaturizer featurizer = d.source.featurizer();
  const auto classes = static_cast<int64_t>(d.classes.size());
  for (const std::string& file : a.files) {
    const std::vector<float> audio = data::read_wav(file);
    std::vector<train::FrameSet> seen(1);  // the frames so far
    seen[0].dim = featurizer.dim;
    std::vector<double> latency_ms;
    SegmentTracker segments(d.classes, a.min_frames);
    constexpr size_t kHop = 160;  // 10 ms at 16 kHz: the frame step of every feature kind
    const auto expected_frames = static_cast<int64_t>(audio.size() / kHop);
    fmt::print("{}: {:.2f} s, {} frames\n", file, static_cast<double>(audio.size()) / data::kSpeechSampleRate,
               expected_frames);
    NoGradGuard no_grad;
    // New feature rows in; the detector on each new frame. `since` is when
    // the samples that completed these frames arrived.
    const auto on_frames = [&](const std::vector<float>& rows, std::chrono::steady_clock::time_point since) {
      seen[0].features.insert(seen[0].features.end(), rows.begin(), rows.end());
      const int64_t now = static_cast<int64_t>(seen[0].features.size()) / featurizer.dim;
      for (int64_t t = seen[0].frames(); t < now; ++t) {
        seen[0].labels.push_back(0);
        const train::DetectionBatch b = train::detection_batch(seen, {{0, t}}, d.window, 0);
        segments.add(t, d.detector->logits(b.windows).contiguous().to_vector<float>());
        latency_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count());
        since = std::chrono::steady_clock::now();
      }
    };
    if (featurizer.stream) {
      train::FrameStream stream = featurizer.stream();
      for (size_t at = 0; at < audio.size(); at += kHop) {
        const size_t n = std::min(kHop, audio.size() - at);
        const auto arrived = std::chrono::steady_clock::now();
        on_frames(stream.push(std::span<const float>(audio).subspan(at, n)), arrived);
      }
      on_frames(stream.finish(), std::chrono::steady_clock::now());
    } else {
      const std::vector<float> all = featurizer.compute(audio);
      std::vector<float> row(static_cast<size_t>(featurizer.dim));
      for (size_t at = 0; at < all.size(); at += row.size()) {
        std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(at), row.size(), row.begin());
        on_frames(row, std::chrono::steady_clock::now());
      }
    }
    segments.close(seen[0].frames());
    report_against_labels(fs::path(file).replace_extension(".labels"), segments.found(), d.classes);
    KILN_CHECK(!latency_ms.empty(), "{}: shorter than one 10 ms frame", file);
    std::sort(latency_ms.begin(), latency_ms.end());
    fmt::print("  online: {} frames one at a time{}, latency per frame median {:.3f} ms, p95 {:.3f} ms ({} classes)\n",
               latency_ms.size(), featurizer.stream ? " from 10 ms audio chunks (features included)" : "",
               latency_ms[latency_ms.size() / 2], latency_ms[latency_ms.size() * 95 / 100], classes);
  }
}

void run_detect(const DetectArgs& a) {
  if (!a.files.empty()) return detect_files(a);
  LoadedDetector d = load_detector(a.run);
  const std::string split = a.split.empty() ? "test" : a.split;
  const StreamFeatures data = stream_features(a.streams, split, d.source);
  const MapReport r = evaluate_streams(*d.detector, data, d.window);
  print_map(r, data.classes, fmt::format("{} on {} features, {} split", d.arch, d.source.kind, split));
}

}  // namespace

void add_speech_commands(CLI::App& app) {
  auto probe_args = std::make_shared<ProbeArgs>();
  CLI::App* probe = app.add_subcommand(
      "probe", "Speaker identification with a linear classifier on frozen per-frame features (CPC, random CPC, log-mel)");
  probe->add_option("--run", probe_args->run, "CPC run or model folder (kiln train with model.arch = \"cpc\")");
  probe->add_option("--data", probe_args->speech, "speech set folder (kiln data speech)")->capture_default_str();
  probe->add_option("--features", probe_args->features, "comma-separated: cpc, random, logmel")->capture_default_str();
  probe->add_option("--epochs", probe_args->epochs, "probe training epochs")->capture_default_str()->check(CLI::Range(1, 1000));
  probe->add_option("--lr", probe_args->lr, "Adam learning rate")->capture_default_str();
  probe->add_option("--n-mels", probe_args->n_mels, "log-mel bands")->capture_default_str()->check(CLI::Range(8, 256));
  probe->add_option("--train-split", probe_args->train_split, "split to train the probe on")->capture_default_str();
  probe->add_option("--test-split", probe_args->test_split, "split to report")->capture_default_str();
  probe->callback([probe_args] { run_probe(*probe_args); });

  auto detect_args = std::make_shared<DetectArgs>();
  CLI::App* detect = app.add_subcommand(
      "detect", "Online keyword detection: per-frame mAP on a stream split, or segments found in WAV files (one frame at a time, past only)");
  detect->add_option("--run", detect_args->run, "detector run (kiln train with model.arch = \"oadtr\" or \"gru\")")->required();
  detect->add_option("files", detect_args->files, "16 kHz mono WAV files to scan");
  detect->add_option("--streams", detect_args->streams, "stream set folder (kiln data streams)")->capture_default_str();
  detect->add_option("--split", detect_args->split, "split to score when no files are given (default test)");
  detect->add_option("--min-frames", detect_args->min_frames, "shortest segment printed, in 10 ms frames")->capture_default_str();
  detect->callback([detect_args] { run_detect(*detect_args); });
}

}  // namespace kiln::cli
