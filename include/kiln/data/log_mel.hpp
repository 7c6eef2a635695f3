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

 private:
  LogMelOptions options_;
  std::vector<float> window_;      // [n_fft]
  std::vector<float> dft_;         // real DFT as a matrix: [n_fft × 2·(n_fft/2+1)] (cos | −sin)
  std::vector<float> filterbank_;  // [(n_fft/2+1) × n_mels]
};

}  // namespace kiln::data
