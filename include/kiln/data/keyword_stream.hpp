#pragma once
// Streams for online detection: long 16 kHz recordings that concatenate spoken
// keywords (the ten digit words, classes 1..10 = "zero".."nine") with silence
// and non-keyword speech (KJV words) as background (class 0), spoken by many
// espeak-ng voices; one label per 10 ms frame (hop 160, aligned with LogMel
// and CPC frames). The streaming analogue of THUMOS'14's untrimmed videos.
//
// Layout of a stream folder:
//   classes.txt                  background, zero, ..., nine (one per line)
//   train.tsv valid.tsv test.tsv file  labels  (paths relative to the folder)
//   streams/<n>.wav, streams/<n>.labels (one class id per line, one line per frame)
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace kiln::data {

inline constexpr int64_t kStreamFrameHop = 160;

struct LabelledStream {
  std::filesystem::path audio;
  std::vector<int32_t> frame_labels;  // frames = samples / kStreamFrameHop
};

struct StreamSet {
  std::vector<LabelledStream> streams;
  std::vector<std::string> classes;  // index 0 = background
};

struct KeywordStreamOptions {
  std::filesystem::path text;  // source of background words (e.g. data/kjv/train.txt)
  std::filesystem::path out;
  int64_t train_streams = 24, valid_streams = 4, test_streams = 8;
  double seconds = 60;           // length of each stream
  double keyword_fraction = 0.5; // of the inserted segments, the share that are keywords
  int64_t speakers = 16;         // voices (as in the speech corpus) that speak keywords and background
  uint64_t seed = 1;
};

void synthesize_keyword_streams(const KeywordStreamOptions& options,
                                const std::function<void(int64_t, int64_t)>& progress = {});

// One-line errors for a missing manifest or file, a label file whose frame
// count disagrees with its audio, a label outside the class list, or an empty stream.
StreamSet read_stream_set(const std::filesystem::path& folder, const std::string& split);

}  // namespace kiln::data
