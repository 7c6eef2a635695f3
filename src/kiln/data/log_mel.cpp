#include "kiln/data/log_mel.hpp"

#include <algorithm>
#include <cmath>

#include "kiln/base/error.hpp"

namespace kiln::data {

namespace {

constexpr double kPi = 3.14159265358979323846;

double hz_to_mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double mel_to_hz(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

}  // namespace

LogMel::LogMel(const LogMelOptions& options) : options_(options) {
  const LogMelOptions& o = options_;
  KILN_CHECK(o.sample_rate > 0 && o.n_fft > 0 && o.hop > 0 && o.n_mels > 0,
             "log-mel: sample_rate, n_fft, hop and n_mels must be positive (got {}, {}, {}, {})", o.sample_rate,
             o.n_fft, o.hop, o.n_mels);
  KILN_CHECK(o.floor > 0, "log-mel: floor must be positive, got {}", o.floor);
  const int n = o.n_fft, bins = n / 2 + 1;
  // Periodic Hann window (the DFT-even one of torch.hann_window / librosa).
  window_.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) window_[static_cast<size_t>(i)] = static_cast<float>(0.5 - 0.5 * std::cos(2 * kPi * i / n));
  // Real DFT as a matrix: row i, column k = cos(2πik/n), column bins + k =
  // −sin(2πik/n); the angle is reduced modulo n exactly.
  dft_.resize(static_cast<size_t>(n) * 2 * bins);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < bins; ++k) {
      const double angle = 2 * kPi * static_cast<double>((static_cast<int64_t>(i) * k) % n) / n;
      dft_[static_cast<size_t>(i) * 2 * bins + k] = static_cast<float>(std::cos(angle));
      dft_[static_cast<size_t>(i) * 2 * bins + bins + k] = static_cast<float>(-std::sin(angle));
    }
  // HTK mel filterbank: n_mels + 2 points evenly spaced in mel over
  // [0, sample_rate / 2]; triangle m rises from point m to m+1 and falls to
  // m+2, peak 1, no area normalisation.
  const double top = hz_to_mel(o.sample_rate / 2.0);
  std::vector<double> edges(static_cast<size_t>(o.n_mels + 2));
  for (int m = 0; m < o.n_mels + 2; ++m) edges[static_cast<size_t>(m)] = mel_to_hz(top * m / (o.n_mels + 1));
  filterbank_.assign(static_cast<size_t>(bins) * o.n_mels, 0.0f);
  for (int k = 0; k < bins; ++k) {
    const double f = static_cast<double>(k) * o.sample_rate / n;
    for (int m = 0; m < o.n_mels; ++m) {
      const double lo = edges[static_cast<size_t>(m)], centre = edges[static_cast<size_t>(m + 1)],
                   hi = edges[static_cast<size_t>(m + 2)];
      const double weight = std::max(0.0, std::min((f - lo) / (centre - lo), (hi - f) / (hi - centre)));
      filterbank_[static_cast<size_t>(k) * o.n_mels + m] = static_cast<float>(weight);
    }
  }
}

std::vector<float> LogMel::compute(std::span<const float> samples) const {
  const auto n_samples = static_cast<int64_t>(samples.size());
  const int64_t n_frames = frames(n_samples);
  std::vector<float> out(static_cast<size_t>(n_frames) * options_.n_mels);
  for (int64_t t = 0; t < n_frames; ++t) frame(samples, 0, n_samples, t, &out[static_cast<size_t>(t) * options_.n_mels]);
  return out;
}

void LogMel::frame(std::span<const float> samples, int64_t first, int64_t signal_end, int64_t t, float* out) const {
  const LogMelOptions& o = options_;
  const int n = o.n_fft, bins = n / 2 + 1, width = 2 * bins;
  const int64_t available_end = std::min(signal_end, first + static_cast<int64_t>(samples.size()));
  std::vector<float> spectrum(static_cast<size_t>(width), 0.0f);
  // Frame t covers [t·hop + hop/2 − n/2, … + n), zero outside the signal.
  const int64_t begin = window_end(t) - n;
  for (int i = 0; i < n; ++i) {
    const int64_t s = begin + i;
    if (s < first || s >= available_end) continue;
    const float x = samples[static_cast<size_t>(s - first)] * window_[static_cast<size_t>(i)];
    const float* row = &dft_[static_cast<size_t>(i) * width];
    for (int k = 0; k < width; ++k) spectrum[static_cast<size_t>(k)] += x * row[k];
  }
  std::vector<double> mel(static_cast<size_t>(o.n_mels), 0.0);
  for (int k = 0; k < bins; ++k) {
    const float re = spectrum[static_cast<size_t>(k)], im = spectrum[static_cast<size_t>(bins + k)];
    const float p = re * re + im * im;
    const float* filters = &filterbank_[static_cast<size_t>(k) * o.n_mels];
    for (int m = 0; m < o.n_mels; ++m) mel[static_cast<size_t>(m)] += static_cast<double>(p) * filters[m];
  }
  for (int m = 0; m < o.n_mels; ++m) out[m] = static_cast<float>(std::log(std::max(mel[static_cast<size_t>(m)], o.floor)));
}

LogMelStream::LogMelStream(const LogMelOptions& options) : log_mel_(options) {}

std::vector<float> LogMelStream::push(std::span<const float> samples) {
  buffer_.insert(buffer_.end(), samples.begin(), samples.end());
  received_ += static_cast<int64_t>(samples.size());
  int64_t last = next_frame_;
  while (log_mel_.window_end(last) <= received_) ++last;
  // Only frames inside the signal's frame count (received / hop) may be out yet.
  return ready_frames(received_, std::min(last, log_mel_.frames(received_)));
}

std::vector<float> LogMelStream::finish() { return ready_frames(received_, log_mel_.frames(received_)); }

std::vector<float> LogMelStream::ready_frames(int64_t signal_end, int64_t last_frame) {
  const int mels = log_mel_.n_mels();
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(0, last_frame - next_frame_)) * mels);
  for (int64_t t = next_frame_, k = 0; t < last_frame; ++t, ++k)
    log_mel_.frame(buffer_, buffer_start_, signal_end, t, &out[static_cast<size_t>(k) * mels]);
  next_frame_ = std::max(next_frame_, last_frame);
  // Drop the samples no later frame reads.
  const int64_t keep_from = std::max<int64_t>(0, log_mel_.window_end(next_frame_) - log_mel_.options().n_fft);
  if (keep_from > buffer_start_) {
    const int64_t drop = std::min<int64_t>(keep_from - buffer_start_, static_cast<int64_t>(buffer_.size()));
    buffer_.erase(buffer_.begin(), buffer_.begin() + drop);
    buffer_start_ += drop;
  }
  return out;
}

}  // namespace kiln::data
