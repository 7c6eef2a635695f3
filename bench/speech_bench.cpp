// CPC training throughput (frames/s over timed AdamW steps on random
// 20480-sample windows, batch 16, the model of configs/speech-cpc.toml) and
// the streaming latency of the online detectors of configs/streams-{oadtr,
// gru}.toml (one window of the last 64 frames per new frame, batch 1,
// no gradients). bench/torch_speech.py runs the same work in PyTorch;
// bench/speech_compare.sh prints both.
//
//   speech_bench cpc|oadtr|gru [repeats]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/base/memory.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/models/cpc/cpc.hpp"
#include "kiln/models/oadtr/oadtr.hpp"
#include "kiln/optim/optimizer.hpp"

using namespace kiln;

namespace {

template <typename Step>
double median_seconds(int repeats, Step step) {
  step();
  std::vector<double> times;
  for (int s = 0; s < repeats; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

Tensor random_tensor(const Shape& shape, uint64_t stream) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 0.3f * philox_normal({7, stream}, static_cast<uint64_t>(i));
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  const std::string which = argc > 1 ? argv[1] : "cpc";
  const int repeats = argc > 2 ? std::stoi(argv[2]) : 10;
  if (which == "cpc") {
    models::CpcConfig c;
    c.channels = 128;
    c.context = 128;
    c.steps = 12;
    c.negatives = 64;
    const int64_t batch = 16, window = 20480, frames = models::cpc_frames(window);
    models::CpcModel model(c, 1);
    optim::AdamW adamw(model.parameters(), {});
    const Tensor waves = random_tensor({batch, window}, 1);
    uint64_t draw = 0;
    const double s = median_seconds(repeats, [&] {
      adamw.zero_grad();
      backward(model.loss(waves, models::cpc_negative_indices(c, batch, frames, 1, draw++)).loss);
      adamw.step();
    });
    std::printf("{\"model\": \"cpc\", \"batch\": %lld, \"step_ms\": %.1f, \"frames_per_s\": %.0f}\n",
                static_cast<long long>(batch), s * 1e3, static_cast<double>(batch * frames) / s);
    return 0;
  }
  NoGradGuard no_grad;
  const Tensor window = random_tensor({1, 64, 40}, 2);
  double s = 0;
  if (which == "oadtr") {
    models::OadtrConfig c;
    c.feature_dim = 40;
    const models::OadtrModel model(c, 1);
    s = median_seconds(repeats, [&] { model.forward(window).current.contiguous(); });
  } else {
    models::GruDetectorConfig c;
    c.feature_dim = 40;
    const models::GruDetector model(c, 1);
    s = median_seconds(repeats, [&] { model.forward(window).current.contiguous(); });
  }
  std::printf("{\"model\": \"%s\", \"latency_ms_per_frame\": %.3f}\n", which.c_str(), s * 1e3);
}
