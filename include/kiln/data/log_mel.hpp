#pragma once
// Log-mel filterbank features, frame-aligned with CPC's latents: one frame
// every `hop` samples (10 ms at 16 kHz, CPC's total stride 160), frame t
// centred on sample t·hop + hop/2, so a signal of n samples gives n / hop
// frames (floor) and frame t of both feature kinds describes the same 10 ms.
#include <cstdint>
#include <span>
#include <vector>

namespace kiln::data {

struct LogMelOptions {
  int sample_rate = 16000;
  int n_fft = 400;    // 25 ms Hann window (periodic), zero padding outside the signal
  int hop = 160;      // 10 ms
  int n_mels = 40;    // HTK mel scale, triangular filters, f_min = 0, f_max = sample_rate / 2
  double floor = 1e-6;  // log(max(power, floor))
};

class LogMel {
 public:
  explicit LogMel(const LogMelOptions& options = {});
  // Row-major [frames × n_mels], frames = samples.size() / hop.
  std::vector<float> compute(std::span<const float> samples) const;
  int64_t frames(int64_t samples) const { return samples / options_.hop; }
  int n_mels() const { return options_.n_mels; }
  const LogMelOptions& options() const { return options_; }
  // The sample just past frame t's window: t·hop + hop/2 + n_fft/2.
  int64_t window_end(int64_t t) const { return t * options_.hop + options_.hop / 2 + options_.n_fft / 2; }
  // Frame t into `out` [n_mels]; `samples` starts at sample `first` of a
  // signal of `signal_end` samples (those outside `samples` count as zero).
  void frame(std::span<const float> samples, int64_t first, int64_t signal_end, int64_t t, float* out) const;

 private:
  LogMelOptions options_;
  std::vector<float> window_;      // [n_fft]
  std::vector<float> dft_;         // real DFT as a matrix: [n_fft × 2·(n_fft/2+1)] (cos | −sin)
  std::vector<float> filterbank_;  // [(n_fft/2+1) × n_mels]
};

// Log-mel frames as the samples arrive (a microphone, a socket): frame t is
// ready once its window is complete, n_fft/2 − hop/2 samples after the end of
// its own hop (7.5 ms at the defaults); finish() gives the frames whose window
// runs past the end. The frames equal LogMel::compute over the whole signal.
// Holds only the samples the next frames still need.
class LogMelStream {
 public:
  explicit LogMelStream(const LogMelOptions& options = {});
  std::vector<float> push(std::span<const float> samples);  // the frames now complete, [k × n_mels]
  std::vector<float> finish();
  int64_t frames_out() const { return next_frame_; }

 private:
  std::vector<float> ready_frames(int64_t signal_end, int64_t last_frame);
  LogMel log_mel_;
  std::vector<float> buffer_;  // samples from buffer_start_ on
  int64_t buffer_start_ = 0;
  int64_t received_ = 0;
  int64_t next_frame_ = 0;
};

}  // namespace kiln::data
