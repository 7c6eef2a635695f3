#pragma once
// Audio for CPC and its evaluation: random training windows, per-frame
// features of whole recordings (log-mel, or CPC's contexts c_t), and the
// linear probe on frozen features (van den Oord et al., arXiv 1807.03748,
// §3.1). Every feature kind gives one row per 160 samples (10 ms), so labels
// per frame line up.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "kiln/models/cpc/cpc.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::train {

struct AudioClips {
  std::vector<std::vector<float>> audio;
  std::vector<int64_t> labels;  // speaker ids
  std::vector<std::string> class_names;
  int64_t size() const { return static_cast<int64_t>(audio.size()); }
};

// A split of a speech set (data::read_speech_set) with its audio read.
AudioClips load_speech_clips(const std::filesystem::path& folder, const std::string& split);

// f32 [batch, samples]: windows at random offsets of random clips (zero
// padding past a short clip's end); a pure function of (seed, draw).
Tensor random_audio_windows(const std::vector<std::vector<float>>& audio, int64_t batch, int64_t samples,
                            uint64_t seed, uint64_t draw);

// One recording's features as its samples arrive: push() returns the frames
// now complete, finish() the rest; together they equal compute().
struct FrameStream {
  std::function<std::vector<float>(std::span<const float>)> push;
  std::function<std::vector<float>()> finish;
};

// Row-major [frames × dim] features of one recording, frames = samples / 160.
struct FrameFeaturizer {
  std::string name;
  int64_t dim = 0;
  std::function<std::vector<float>(std::span<const float>)> compute;
  std::function<FrameStream()> stream;  // empty when the features need the whole recording
};
// Streams (data::LogMelStream).
FrameFeaturizer log_mel_featurizer(int n_mels = 40);
// CPC contexts c_t (or latents z_t when `latents`), encoded in chunks of
// 1000 frames with an 8-frame margin so long streams fit in memory; the GRU
// runs over the whole recording. The model must outlive the featurizer.
FrameFeaturizer cpc_featurizer(const models::CpcModel& model, bool latents = false);

struct FrameSet {
  std::vector<float> features;  // [frames × dim]
  std::vector<int32_t> labels;  // one per frame
  int64_t dim = 0;
  int64_t frames() const { return static_cast<int64_t>(labels.size()); }
};
// Every frame of every clip, labelled with its clip's label.
FrameSet clip_frames(const AudioClips& clips, const FrameFeaturizer& featurizer);

struct ProbeOptions {
  int64_t epochs = 10;
  int64_t batch_size = 256;
  double lr = 1e-3;
  uint64_t seed = 0;
};
struct ProbeResult {
  double train_accuracy = 0, test_accuracy = 0;
  double seconds = 0;
};
// A softmax linear classifier on features standardised with the training
// set's per-dimension mean and deviation, trained with Adam.
ProbeResult train_linear_probe(const FrameSet& train, const FrameSet& test, int64_t classes,
                               const ProbeOptions& options);

}  // namespace kiln::train
