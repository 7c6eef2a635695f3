#pragma once
// A speech set synthesised locally with espeak-ng: KJV verses spoken by many
// distinct "speakers" (an espeak voice + voice variant + pitch + speed), 16 kHz
// mono WAV, deterministic from a seed, with a manifest per split.
//
// Layout of a set folder:
//   speakers.tsv                 id  name  voice  pitch  rate
//   train.tsv valid.tsv test.tsv file  speaker  text  words
//   wav/<speaker>/<n>.wav
// `file` is relative to the folder; `words` is `word@start-end` items (seconds,
// from espeak's word events) separated by spaces. Splits have disjoint texts;
// every speaker appears in every split (speaker identification is a task).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace kiln::data {

struct WordTiming {
  std::string word;
  double start = 0, end = 0;  // seconds
};

struct Utterance {
  std::filesystem::path audio;  // absolute (resolved against the manifest's folder)
  int64_t speaker = 0;
  std::string text;
  std::vector<WordTiming> words;
};

struct SpeechSet {
  std::vector<Utterance> utterances;
  std::vector<std::string> speakers;  // names, index = speaker id (from speakers.tsv)
};

struct SpeechCorpusOptions {
  std::filesystem::path text;  // one sentence/verse per line (e.g. data/kjv/train.txt)
  std::filesystem::path out;
  int64_t speakers = 16;
  int64_t utterances_per_speaker = 40;
  double valid_fraction = 0.1, test_fraction = 0.2;
  int64_t min_words = 6, max_words = 20;  // verses outside this range are skipped
  uint64_t seed = 1;
};

// Writes the folder described above (atomically: built under a temporary name
// and renamed). `progress(done, total)` is called after every utterance.
void synthesize_speech_corpus(const SpeechCorpusOptions& options,
                              const std::function<void(int64_t, int64_t)>& progress = {});

// Reads <folder>/<split>.tsv and <folder>/speakers.tsv. One-line errors for a
// missing manifest, a malformed line (file:line named), an unknown speaker id,
// or a manifest naming an audio file that does not exist.
SpeechSet read_speech_set(const std::filesystem::path& folder, const std::string& split);

}  // namespace kiln::data
