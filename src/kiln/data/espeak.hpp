#pragma once
// Private to the data layer: espeak-ng speech synthesis at 16 kHz and what the
// speech corpus and the keyword streams share (speakers, set folders, TSV).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kiln/data/speech_corpus.hpp"

namespace kiln::data::speech {

// One synthetic speaker: espeak voice "<base>+<variant>" with a base pitch
// (0–100), pitch range (0–100) and speed (words per minute).
struct Speaker {
  std::string name;   // "s03"
  std::string voice;  // "en-us+m3"
  int pitch = 50, range = 50, rate = 175;
};

// `count` distinct speakers from `seed`: the first 91 have different (base
// voice, variant) pairs, and pitch and rate are spread evenly over their
// ranges in seeded orders (all different up to 60 speakers).
std::vector<Speaker> choose_speakers(int64_t count, uint64_t seed);

struct Clip {
  std::vector<float> samples;      // 16 kHz mono
  std::vector<WordTiming> words;   // from espeak's word events; end trimmed of silence
};

// Speech from espeak-ng. Its library keeps global state that carries over
// from one utterance to the next (the same text comes out a few samples
// longer or shorter the second time) and cannot be re-initialised reliably
// within a process, so every clip is synthesised in a forked child process
// that initialises the library afresh: the same speaker and text always give
// the same samples, whatever was spoken before.
class Synthesizer {
 public:
  Clip speak(const Speaker& speaker, const std::string& text);
};

// [first, last) of the samples louder than `fraction` of the peak; {0, 0} when silent.
std::pair<int64_t, int64_t> voiced_span(const std::vector<float>& samples, double fraction = 0.02);

// The normalised KJV line as text to speak, punctuation written as usual
// ("said , let" → "said, let", "lord ' s" → "lord's"); `words` gets its words
// (whitespace-separated, leading and trailing punctuation removed).
std::string speakable(const std::string& line, std::vector<std::string>* words = nullptr);

// A set folder written under a temporary name next to `out` and renamed onto
// it by commit(); removed if never committed. An existing `out` is replaced
// only when it holds `marker` (a set made before); anything else is an error.
class StagedFolder {
 public:
  StagedFolder(std::filesystem::path out, std::string marker);
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;
  const std::filesystem::path& path() const { return staging_; }
  void commit();

 private:
  std::filesystem::path out_, staging_;
  std::string marker_;
  bool committed_ = false;
};

// Tab-separated rows of `path` after its header line, which must equal
// `header`; every row must have as many fields as the header. Errors name file:line.
struct TsvRow {
  int64_t line = 0;  // 1-based, for messages
  std::vector<std::string> fields;
};
std::vector<TsvRow> read_tsv(const std::filesystem::path& path, const std::string& header);

// Writes bytes to `path` atomically.
void write_text(const std::filesystem::path& path, const std::string& text);

}  // namespace kiln::data::speech
