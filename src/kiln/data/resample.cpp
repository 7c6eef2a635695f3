#include "kiln/data/resample.hpp"

#include <cmath>
#include <cstdint>
#include <numeric>

#include "kiln/base/error.hpp"

namespace kiln::data {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kZeroCrossings = 24;  // of the low-pass sinc on each side
constexpr double kBandwidth = 0.95;  // of the lower Nyquist frequency

// 4-term Blackman-Harris window on x ∈ [−1, 1] (sidelobes below −92 dB).
double window(double x) {
  const double phase = kPi * (x + 1);  // 0 … 2π
  return 0.35875 - 0.48829 * std::cos(phase) + 0.14128 * std::cos(2 * phase) - 0.01168 * std::cos(3 * phase);
}

}  // namespace

std::vector<float> resample(std::span<const float> samples, int from_rate, int to_rate) {
  KILN_CHECK(from_rate > 0 && to_rate > 0, "resample: sample rates must be positive, got {} and {}", from_rate, to_rate);
  if (from_rate == to_rate) return {samples.begin(), samples.end()};
  const int64_t g = std::gcd(from_rate, to_rate);
  const int64_t up = to_rate / g, down = from_rate / g;  // output n sits at input time n·down/up
  const double cutoff = kBandwidth * std::min(1.0, static_cast<double>(to_rate) / from_rate);  // cycles per input sample ×2
  const int half = static_cast<int>(std::ceil(kZeroCrossings / cutoff));
  const int taps = 2 * half;
  // Polyphase table: phase p (fraction p/up of an input sample) holds the taps
  // for input offsets k = −half+1 … half relative to floor(time).
  std::vector<float> table(static_cast<size_t>(up * taps));
  for (int64_t p = 0; p < up; ++p) {
    const double frac = static_cast<double>(p) / static_cast<double>(up);
    double sum = 0;
    for (int j = 0; j < taps; ++j) {
      const double t = static_cast<double>(j - half + 1) - frac;  // input offset minus the exact time
      const double x = cutoff * t;
      const double sinc = x == 0 ? 1.0 : std::sin(kPi * x) / (kPi * x);
      const double w = std::abs(t) >= half ? 0.0 : window(t / half);
      const double h = cutoff * sinc * w;
      table[static_cast<size_t>(p * taps + j)] = static_cast<float>(h);
      sum += h;
    }
    // Unit gain at DC for every phase, so a constant stays constant.
    for (int j = 0; j < taps; ++j) table[static_cast<size_t>(p * taps + j)] = static_cast<float>(table[static_cast<size_t>(p * taps + j)] / sum);
  }
  const int64_t n_in = static_cast<int64_t>(samples.size());
  const int64_t n_out = n_in * up / down;
  std::vector<float> out(static_cast<size_t>(n_out));
  for (int64_t n = 0; n < n_out; ++n) {
    const int64_t position = n * down;
    const int64_t base = position / up, phase = position % up;
    const float* h = &table[static_cast<size_t>(phase * taps)];
    double acc = 0;
    for (int j = 0; j < taps; ++j) {
      const int64_t k = base + j - half + 1;
      if (k >= 0 && k < n_in) acc += static_cast<double>(h[j]) * samples[static_cast<size_t>(k)];
    }
    out[static_cast<size_t>(n)] = static_cast<float>(acc);
  }
  return out;
}

}  // namespace kiln::data
