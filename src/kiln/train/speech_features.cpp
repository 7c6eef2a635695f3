#include "kiln/train/speech_features.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/gru.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/data/log_mel.hpp"
#include "kiln/data/speech_corpus.hpp"
#include "kiln/data/wav.hpp"
#include "kiln/train/training_loop.hpp"

namespace kiln::train {

AudioClips load_speech_clips(const std::filesystem::path& folder, const std::string& split) {
  const data::SpeechSet set = data::read_speech_set(folder, split);
  KILN_CHECK(!set.utterances.empty(), "{}: the {} split has no utterances", folder.string(), split);
  AudioClips clips;
  clips.class_names = set.speakers;
  for (const data::Utterance& u : set.utterances) {
    clips.audio.push_back(data::read_wav(u.audio));
    clips.labels.push_back(u.speaker);
  }
  return clips;
}

Tensor random_audio_windows(const std::vector<std::vector<float>>& audio, int64_t batch, int64_t samples,
                            uint64_t seed, uint64_t draw) {
  KILN_CHECK(!audio.empty(), "no audio to draw windows from");
  Tensor out = Tensor::zeros({batch, samples});
  float* o = out.data<float>();
  const PhiloxKey key{seed, 0xa0d10000000000ull + draw};
  for (int64_t b = 0; b < batch; ++b) {
    const std::array<uint32_t, 4> bits = philox_block(key, static_cast<uint64_t>(b));
    const std::vector<float>& clip = audio[bits[0] % audio.size()];
    const auto length = static_cast<int64_t>(clip.size());
    const int64_t room = std::max<int64_t>(0, length - samples);
    const int64_t offset = room == 0 ? 0 : static_cast<int64_t>(bits[1] % static_cast<uint64_t>(room + 1));
    const int64_t n = std::min(samples, length - offset);
    std::copy_n(clip.data() + offset, n, o + b * samples);
  }
  return out;
}

FrameFeaturizer log_mel_featurizer(int n_mels) {
  data::LogMelOptions options;
  options.n_mels = n_mels;
  auto mel = std::make_shared<data::LogMel>(options);
  const auto stream = [options] {
    auto state = std::make_shared<data::LogMelStream>(options);
    return FrameStream{[state](std::span<const float> samples) { return state->push(samples); },
                       [state] { return state->finish(); }};
  };
  return {"logmel", n_mels, [mel](std::span<const float> audio) { return mel->compute(audio); }, stream};
}

FrameFeaturizer cpc_featurizer(const models::CpcModel& model, bool latents) {
  const int64_t dim = latents ? model.config().channels : model.config().context;
  return {latents ? "cpc-z" : "cpc", dim, [&model, latents](std::span<const float> audio) {
            NoGradGuard no_grad;
            constexpr int64_t chunk = 1000, margin = 8;
            const int64_t frames = static_cast<int64_t>(audio.size()) / models::kCpcDownsampling;
            KILN_CHECK(frames >= 1, "a recording of {} samples is shorter than one 10 ms frame", audio.size());
            const int64_t channels = model.config().channels;
            Tensor z = Tensor::empty({1, frames, channels});
            for (int64_t first = 0; first < frames; first += chunk) {
              const int64_t from = std::max<int64_t>(0, first - margin);
              const int64_t to = std::min(frames, first + chunk + margin);
              const int64_t n = (to - from) * models::kCpcDownsampling;
              const Tensor piece = Tensor::from(
                  std::span<const float>(audio.data() + from * models::kCpcDownsampling, static_cast<size_t>(n)), {1, n});
              const Tensor encoded = model.encode(piece).contiguous();
              const int64_t keep = std::min(chunk, frames - first);
              std::copy_n(encoded.data<float>() + (first - from) * channels, keep * channels,
                          z.data<float>() + first * channels);
            }
            const Tensor out = latents ? z : model.context(z).contiguous();
            return out.to_vector<float>();
          },
          {}};
}

FrameSet clip_frames(const AudioClips& clips, const FrameFeaturizer& featurizer) {
  FrameSet set;
  set.dim = featurizer.dim;
  for (int64_t i = 0; i < clips.size(); ++i) {
    const std::vector<float> features = featurizer.compute(clips.audio[static_cast<size_t>(i)]);
    KILN_CHECK(features.size() % static_cast<size_t>(set.dim) == 0, "{} features: {} values are not whole frames of {}",
               featurizer.name, features.size(), set.dim);
    set.features.insert(set.features.end(), features.begin(), features.end());
    set.labels.insert(set.labels.end(), features.size() / static_cast<size_t>(set.dim),
                      static_cast<int32_t>(clips.labels[static_cast<size_t>(i)]));
  }
  return set;
}

namespace {

void standardise(std::vector<float>& features, int64_t dim, const std::vector<double>& mean,
                 const std::vector<double>& deviation) {
  for (size_t i = 0; i < features.size(); ++i) {
    const size_t d = i % static_cast<size_t>(dim);
    features[i] = static_cast<float>((features[i] - mean[d]) / deviation[d]);
  }
}

double probe_accuracy(const FrameSet& set, const std::vector<float>& features, const Tensor& weight,
                      const Tensor& bias) {
  NoGradGuard no_grad;
  int64_t correct = 0;
  const int64_t classes = weight.size(0);
  for (int64_t first = 0; first < set.frames(); first += 4096) {
    const int64_t n = std::min<int64_t>(4096, set.frames() - first);
    const Tensor x = Tensor::from(std::span<const float>(features.data() + first * set.dim, static_cast<size_t>(n * set.dim)),
                                  {n, set.dim});
    const std::vector<float> logits = ops::linear(x, weight, bias).contiguous().to_vector<float>();
    for (int64_t r = 0; r < n; ++r) {
      const float* row = logits.data() + r * classes;
      correct += (std::max_element(row, row + classes) - row) == set.labels[static_cast<size_t>(first + r)];
    }
  }
  return static_cast<double>(correct) / static_cast<double>(set.frames());
}

}  // namespace

ProbeResult train_linear_probe(const FrameSet& train, const FrameSet& test, int64_t classes, const ProbeOptions& o) {
  KILN_CHECK(train.frames() > 0 && test.frames() > 0, "the probe needs training and test frames");
  KILN_CHECK(train.dim == test.dim, "probe: training features have {} dimensions, test features {}", train.dim,
             test.dim);
  const auto start = std::chrono::steady_clock::now();
  const int64_t dim = train.dim, n = train.frames();
  std::vector<double> mean(static_cast<size_t>(dim), 0.0), deviation(static_cast<size_t>(dim), 0.0);
  for (size_t i = 0; i < train.features.size(); ++i) mean[i % static_cast<size_t>(dim)] += train.features[i];
  for (double& m : mean) m /= static_cast<double>(n);
  for (size_t i = 0; i < train.features.size(); ++i) {
    const double d = train.features[i] - mean[i % static_cast<size_t>(dim)];
    deviation[i % static_cast<size_t>(dim)] += d * d;
  }
  for (double& s : deviation) s = std::sqrt(s / static_cast<double>(n)) + 1e-6;
  std::vector<float> train_x = train.features, test_x = test.features;
  standardise(train_x, dim, mean, deviation);
  standardise(test_x, dim, mean, deviation);

  Tensor weight = Tensor::zeros({classes, dim}), bias = Tensor::zeros({classes});
  weight.set_requires_grad(true);
  bias.set_requires_grad(true);
  const int64_t per_epoch = n / o.batch_size;
  KILN_CHECK(per_epoch >= 1, "the probe has {} training frames, fewer than one batch of {}", n, o.batch_size);
  LoopOptions loop;
  loop.label = "probe";
  loop.steps = per_epoch * o.epochs;
  loop.steps_per_epoch = per_epoch;
  loop.schedule = {.kind = "constant", .warmup = 0, .lr = o.lr, .min_lr = o.lr};
  loop.adamw.weight_decay = 0;
  loop.grad_clip = 0;
  loop.unit = "frames";
  loop.items_per_step = o.batch_size;
  std::vector<int64_t> order;
  LoopHooks hooks;
  hooks.step = [&](int64_t step, nlohmann::json&) {
    if (step % per_epoch == 0)
      order = philox_permutation(n, {o.seed, 0x9b0be00000000ull + static_cast<uint64_t>(step / per_epoch)});
    const int64_t first = (step % per_epoch) * o.batch_size;
    Tensor xb = Tensor::empty({o.batch_size, dim});
    Tensor yb = Tensor::empty({o.batch_size}, DType::i64);
    for (int64_t r = 0; r < o.batch_size; ++r) {
      const int64_t frame = order[static_cast<size_t>(first + r)];
      std::copy_n(train_x.data() + frame * dim, dim, xb.data<float>() + r * dim);
      yb.data<int64_t>()[r] = train.labels[static_cast<size_t>(frame)];
    }
    const Tensor loss = ops::cross_entropy(ops::linear(xb, weight, bias), yb);
    return train::backward_loss(loss);
  };
  const std::map<std::string, Tensor> head{{"weight", weight}, {"bias", bias}};
  run_training_loop(head, head, hooks, loop, {});
  ProbeResult result;
  result.train_accuracy = probe_accuracy(train, train_x, weight, bias);
  result.test_accuracy = probe_accuracy(test, test_x, weight, bias);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace kiln::train
