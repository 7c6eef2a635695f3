#pragma once
// Speech runs: CPC pre-training, the speaker-ID linear probe, and the online
// action detectors (OadTR, GRU) over keyword streams — their training on the
// one loop, and the loading and scoring of a detector run that `kiln detect`
// uses.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/base/philox.hpp"
#include "kiln/io/config_file.hpp"
#include "kiln/models/cpc/cpc.hpp"
#include "kiln/models/oadtr/oadtr.hpp"
#include "kiln/train/detection.hpp"
#include "kiln/train/frame_metrics.hpp"
#include "kiln/train/speech_features.hpp"

namespace kiln::train {

void run_cpc_pretraining(io::ConfigFile& file, bool resume);
void run_detector_training(io::ConfigFile& file, bool resume);

struct SpeakerProbeOptions {
  std::string run, speech = "data/speech", features = "cpc,random,logmel", train_split = "train",
              test_split = "test";
  int64_t epochs = 10;
  double lr = 1e-3;
  int n_mels = 40;
};
void run_speaker_probe(const SpeakerProbeOptions& options);

std::unique_ptr<models::CpcModel> load_cpc(const std::filesystem::path& run);

// OadTR or the GRU baseline behind one interface.
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
  models::DetectorLoss loss(const DetectionBatch& b, const PhiloxKey& key) const {
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
  std::vector<FrameSet> streams;
  std::vector<std::filesystem::path> files;
  std::vector<std::string> classes;
};

struct FeatureSource {
  std::string kind = "logmel";  // or "cpc"
  std::string cpc_run;
  int n_mels = 40;
  std::unique_ptr<models::CpcModel> cpc;

  FrameFeaturizer featurizer();  // loads the CPC run on first use
  nlohmann::json json() const { return {{"kind", kind}, {"cpc_run", cpc_run}, {"n_mels", n_mels}}; }
};

StreamFeatures stream_features(const std::filesystem::path& folder, const std::string& split, FeatureSource& source);

struct MapReport {
  FrameMap map;
  int64_t frames = 0;
  double frame_accuracy = 0;
};

MapReport evaluate_streams(const Detector& detector, const StreamFeatures& data, int64_t window);
void print_map(const MapReport& report, const std::vector<std::string>& classes, const std::string& title);
nlohmann::json map_json(const MapReport& report, const std::vector<std::string>& classes);

struct LoadedDetector {
  std::unique_ptr<Detector> detector;
  FeatureSource source;
  std::vector<std::string> classes;
  int64_t window = 0;
  std::string arch;
};

LoadedDetector load_detector(const std::filesystem::path& run);

}  // namespace kiln::train
