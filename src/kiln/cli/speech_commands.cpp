// `kiln probe` and `kiln detect`: their options, and `kiln detect`, which
// scores a stream split (per-frame mAP) or runs a detector over WAV files one
// frame at a time and prints what it found. Training is in train/speech_runs.
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
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/progress.hpp"
#include "kiln/data/keyword_stream.hpp"
#include "kiln/data/wav.hpp"
#include "kiln/models/cpc/cpc.hpp"
#include "kiln/models/oadtr/oadtr.hpp"
#include "kiln/io/config_file.hpp"
#include "kiln/train/detection.hpp"
#include "kiln/train/frame_metrics.hpp"
#include "kiln/train/model_folder.hpp"
#include "kiln/train/speech_features.hpp"
#include "kiln/train/training_loop.hpp"

#include "kiln/cli/commands.hpp"
#include "kiln/train/speech_runs.hpp"

namespace kiln::cli {

namespace fs = std::filesystem;
using train::LoadedDetector;
using train::MapReport;
using train::StreamFeatures;

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
  LoadedDetector d = train::load_detector(a.run);
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
  LoadedDetector d = train::load_detector(a.run);
  const std::string split = a.split.empty() ? "test" : a.split;
  const StreamFeatures data = train::stream_features(a.streams, split, d.source);
  const MapReport r = train::evaluate_streams(*d.detector, data, d.window);
  train::print_map(r, data.classes, fmt::format("{} on {} features, {} split", d.arch, d.source.kind, split));
}

}  // namespace

void add_speech_commands(CLI::App& app) {
  auto probe_args = std::make_shared<train::SpeakerProbeOptions>();
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
  probe->callback([probe_args] { train::run_speaker_probe(*probe_args); });

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
