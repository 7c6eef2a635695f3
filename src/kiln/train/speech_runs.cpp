// Speech runs: CPC pre-training on the synthesised speech set (`kiln train`
// with model.arch = "cpc"), the speaker-ID linear probe (`kiln probe`), and
// online detectors over keyword streams (model.arch = "oadtr" or "gru"),
// all on the one training loop; and what `kiln detect` needs to load and
// score a detector run.
#include "kiln/train/speech_runs.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <variant>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "kiln/io/json_field.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/printable.hpp"
#include "kiln/base/progress.hpp"
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

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

std::string join_accuracies(const std::vector<double>& accuracy) {
  std::string out;
  for (double a : accuracy) out += fmt::format("{}{:.3f}", out.empty() ? "" : " ", a);
  return out;
}

nlohmann::json detector_json(const std::string& arch, const models::OadtrConfig& m, const models::GruDetectorConfig& g,
                             const FeatureSource& source, const std::vector<std::string>& classes) {
  nlohmann::json j = {{"model_type", arch}, {"features", source.json()}, {"classes", classes}};
  j.update(arch == "oadtr" ? models::oadtr_config_json(m) : models::gru_detector_config_json(g));
  return j;
}

}  // namespace

// ------------------------------------------------------------------ CPC

std::unique_ptr<models::CpcModel> load_cpc(const fs::path& run) {
  const train::ModelFolder folder = train::load_model_folder(run, "a kiln CPC run");
  auto model = std::make_unique<models::CpcModel>(models::cpc_config_from_json(folder.config, (folder.dir / "config.json").string()), 0);
  model->load_parameters(folder.weights);
  return model;
}

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
    return train::backward_loss(l.loss);
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

void run_speaker_probe(const SpeakerProbeOptions& a) {
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

LoadedDetector load_detector(const fs::path& run) {
  const train::ModelFolder folder = train::load_model_folder(run, "a kiln oadtr/gru detector run");
  const nlohmann::json& j = folder.config;
  LoadedDetector out;
  const std::string src = (folder.dir / "config.json").string();
  out.arch = io::json_field_or<std::string>(j, "model_type", "", src);
  KILN_CHECK(out.arch == "oadtr" || out.arch == "gru", "{}: not a detector (model_type '{}')", folder.dir.string(),
             printable(out.arch));
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
    return train::backward_loss(l.loss);
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

FrameFeaturizer FeatureSource::featurizer() {
  if (kind == "logmel") return log_mel_featurizer(n_mels);
  if (!cpc) cpc = load_cpc(cpc_run);
  return cpc_featurizer(*cpc);
}

}  // namespace kiln::train
