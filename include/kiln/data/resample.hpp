#pragma once
// Band-limited sample-rate conversion (windowed sinc, Blackman-Harris window),
// used to bring espeak-ng's 22050 Hz output to the 16 kHz of the speech sets.
#include <span>
#include <vector>

namespace kiln::data {

// The signal at `to_rate`: output sample n is the input interpolated at time
// n / to_rate with a low-pass at 0.95 · min(from_rate, to_rate) / 2, so a tone
// below that keeps its frequency and amplitude. Output length is
// floor(samples · to_rate / from_rate). Both rates must be positive.
std::vector<float> resample(std::span<const float> samples, int from_rate, int to_rate);

}  // namespace kiln::data
