#pragma once
// Mono WAV files through libsndfile: the audio of the speech and stream sets.
#include <filesystem>
#include <span>
#include <vector>

namespace kiln::data {

inline constexpr int kSpeechSampleRate = 16000;

// Samples in [−1, 1] of a mono WAV file (any PCM or float encoding libsndfile
// reads). One-line kiln::Error naming the file for: a missing, truncated or
// non-WAV file; a sample rate other than `sample_rate`; more than one channel;
// no samples at all.
std::vector<float> read_wav(const std::filesystem::path& path, int sample_rate = kSpeechSampleRate);

// 16-bit PCM mono WAV (samples clipped to [−1, 1]), written to a temporary
// file and renamed, so a crash never leaves a half-written file.
void write_wav(const std::filesystem::path& path, std::span<const float> samples,
               int sample_rate = kSpeechSampleRate);

}  // namespace kiln::data
