#include "kiln/data/keyword_stream.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "espeak.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/data/wav.hpp"

namespace kiln::data {

namespace fs = std::filesystem;

namespace {

const char* const kManifestHeader = "file\tlabels";
const std::vector<std::string> kDigits = {"zero", "one", "two", "three", "four",
                                          "five", "six", "seven", "eight", "nine"};
// Words that sound like a digit word; with every word that contains one
// ("someone", "seventh", "weight"), they never appear in background speech.
const std::vector<std::string> kSoundAlikes = {"for", "fore", "forth", "to", "too", "ate", "won", "tu", "sicks", "nein"};

constexpr float kNoiseLevel = 0.003f;  // standard deviation of the background noise (about −50 dBFS)

bool allowed_background_word(const std::string& word) {
  for (char c : word)
    if (c < 'a' || c > 'z') return false;
  for (const std::string& d : kDigits)
    if (word.find(d) != std::string::npos) return false;
  for (const std::string& s : kSoundAlikes)
    if (word == s) return false;
  return true;
}

double uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

uint64_t below(std::mt19937_64& rng, uint64_t n) { return rng() % n; }

// Synthesised clips, trimmed to their voiced part and scaled to peak 1,
// cached by (speaker, text) for the whole run.
class ClipCache {
 public:
  explicit ClipCache(const std::vector<speech::Speaker>& speakers) : speakers_(speakers) {}
  const std::vector<float>& get(size_t speaker, const std::string& text) {
    const auto key = std::make_pair(speaker, text);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    const speech::Clip clip = synthesizer_.speak(speakers_[speaker], text);
    const auto [first, last] = speech::voiced_span(clip.samples);
    std::vector<float> trimmed(clip.samples.begin() + first, clip.samples.begin() + last);
    float peak = 0;
    for (float x : trimmed) peak = std::max(peak, std::abs(x));
    if (peak > 0)
      for (float& x : trimmed) x /= peak;
    return cache_.emplace(key, std::move(trimmed)).first->second;
  }

 private:
  const std::vector<speech::Speaker>& speakers_;
  speech::Synthesizer synthesizer_;
  std::map<std::pair<size_t, std::string>, std::vector<float>> cache_;
};

struct Interval {
  int64_t begin = 0, end = 0;
  int32_t label = 0;
};

// Verses as lists of word tokens, for background phrases.
std::vector<std::vector<std::string>> background_verses(const fs::path& path) {
  KILN_CHECK(fs::is_regular_file(path), "{}: no such file (scripts/prepare-kjv.sh writes data/kjv/train.txt)",
             path.string());
  std::ifstream in(path);
  KILN_CHECK(in.good(), "{}: cannot open", path.string());
  std::vector<std::vector<std::string>> verses;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> words;
    speech::speakable(line, &words);
    if (!words.empty()) verses.push_back(std::move(words));
  }
  KILN_CHECK(!verses.empty(), "{}: no words for background speech", path.string());
  return verses;
}

// 1–4 consecutive words of a random verse, none of them a digit word or a sound-alike.
std::string background_phrase(const std::vector<std::vector<std::string>>& verses, std::mt19937_64& rng,
                              const fs::path& path) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const auto& verse = verses[below(rng, verses.size())];
    const size_t length = std::min<size_t>(verse.size(), 1 + below(rng, 4));
    const size_t start = below(rng, verse.size() - length + 1);
    std::string phrase;
    bool ok = true;
    for (size_t i = start; i < start + length && ok; ++i) {
      ok = allowed_background_word(verse[i]);
      phrase += (phrase.empty() ? "" : " ") + verse[i];
    }
    if (ok) return phrase;
  }
  fail("{}: found no background words that are not digit words", path.string());
}

std::string labels_text(const std::vector<int32_t>& labels) {
  std::string out;
  out.reserve(labels.size() * 2);
  for (int32_t l : labels) {
    out += std::to_string(l);
    out += '\n';
  }
  return out;
}

}  // namespace

void synthesize_keyword_streams(const KeywordStreamOptions& o, const std::function<void(int64_t, int64_t)>& progress) {
  KILN_CHECK(o.train_streams >= 0 && o.valid_streams >= 0 && o.test_streams >= 0 &&
                 o.train_streams + o.valid_streams + o.test_streams >= 1,
             "keyword streams: stream counts must be non-negative with at least one stream (got {}, {}, {})",
             o.train_streams, o.valid_streams, o.test_streams);
  KILN_CHECK(o.seconds >= 2 && o.seconds <= 3600, "keyword streams: --seconds must be 2 to 3600, got {}", o.seconds);
  KILN_CHECK(o.keyword_fraction >= 0 && o.keyword_fraction <= 1,
             "keyword streams: keyword fraction must be in [0, 1], got {}", o.keyword_fraction);
  const std::vector<speech::Speaker> speakers = speech::choose_speakers(o.speakers, o.seed);
  const std::vector<std::vector<std::string>> verses = background_verses(o.text);

  speech::StagedFolder folder(o.out, "classes.txt");
  std::string classes = "background\n";
  for (const std::string& d : kDigits) classes += d + "\n";
  speech::write_text(folder.path() / "classes.txt", classes);
  fs::create_directories(folder.path() / "streams");

  ClipCache cache(speakers);
  const int64_t counts[3] = {o.train_streams, o.valid_streams, o.test_streams};
  const char* const split_names[3] = {"train", "valid", "test"};
  const int64_t total = counts[0] + counts[1] + counts[2];
  const int64_t length = std::llround(o.seconds * kSpeechSampleRate);
  int64_t index = 0;
  for (int split = 0; split < 3; ++split) {
    std::string manifest = std::string(kManifestHeader) + "\n";
    for (int64_t n = 0; n < counts[split]; ++n, ++index) {
      std::mt19937_64 rng(o.seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(index) + 1);
      std::vector<float> audio(static_cast<size_t>(length));
      for (int64_t i = 0; i < length; ++i)
        audio[static_cast<size_t>(i)] = kNoiseLevel * philox_normal({o.seed, 0x73747265616dULL + static_cast<uint64_t>(index)},
                                                                    static_cast<uint64_t>(i));
      std::vector<Interval> keywords;
      int64_t position = 0;
      for (;;) {
        position += std::llround(uniform(rng, 0.1, 1.0) * kSpeechSampleRate);  // silence gap
        const size_t speaker = below(rng, speakers.size());
        const bool keyword = uniform(rng, 0, 1) < o.keyword_fraction;
        const int32_t digit = static_cast<int32_t>(below(rng, kDigits.size()));
        const std::string text = keyword ? kDigits[static_cast<size_t>(digit)] : background_phrase(verses, rng, o.text);
        const float gain = static_cast<float>(uniform(rng, 0.3, 0.8));
        const std::vector<float>& clip = cache.get(speaker, text);
        const int64_t size = static_cast<int64_t>(clip.size());
        if (size == 0) continue;
        if (position + size > length) break;
        for (int64_t i = 0; i < size; ++i) audio[static_cast<size_t>(position + i)] += gain * clip[static_cast<size_t>(i)];
        if (keyword) keywords.push_back({position, position + size, digit + 1});
        position += size;
      }
      // A frame takes a keyword's class when most of its samples lie inside it.
      std::vector<int32_t> labels(static_cast<size_t>(length / kStreamFrameHop), 0);
      for (const Interval& k : keywords)
        for (int64_t f = k.begin / kStreamFrameHop; f < static_cast<int64_t>(labels.size()) && f * kStreamFrameHop < k.end; ++f) {
          const int64_t inside = std::min(k.end, (f + 1) * kStreamFrameHop) - std::max(k.begin, f * kStreamFrameHop);
          if (2 * inside > kStreamFrameHop) labels[static_cast<size_t>(f)] = k.label;
        }
      const std::string stem = fmt::format("streams/{:04d}", index);
      write_wav(folder.path() / (stem + ".wav"), audio);
      speech::write_text(folder.path() / (stem + ".labels"), labels_text(labels));
      manifest += fmt::format("{}.wav\t{}.labels\n", stem, stem);
      if (progress) progress(index + 1, total);
    }
    speech::write_text(folder.path() / (std::string(split_names[split]) + ".tsv"), manifest);
  }
  folder.commit();
}

StreamSet read_stream_set(const fs::path& folder, const std::string& split) {
  KILN_CHECK(fs::is_directory(folder), "{}: no such folder (make one with `kiln data streams`)", folder.string());
  StreamSet set;
  const fs::path classes_path = folder / "classes.txt";
  {
    KILN_CHECK(fs::is_regular_file(classes_path), "{}: no such file", classes_path.string());
    std::ifstream in(classes_path);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) set.classes.push_back(line);
    KILN_CHECK(!set.classes.empty(), "{}: no classes", classes_path.string());
  }
  const fs::path manifest = folder / (split + ".tsv");
  for (const speech::TsvRow& row : speech::read_tsv(manifest, kManifestHeader)) {
    const std::string where = fmt::format("{}:{}", manifest.string(), row.line);
    LabelledStream stream;
    stream.audio = fs::absolute(folder / row.fields[0]).lexically_normal();
    const fs::path labels_path = fs::absolute(folder / row.fields[1]).lexically_normal();
    KILN_CHECK(!row.fields[0].empty() && fs::is_regular_file(stream.audio), "{}: {}: no such audio file", where,
               stream.audio.string());
    KILN_CHECK(!row.fields[1].empty() && fs::is_regular_file(labels_path), "{}: {}: no such label file", where,
               labels_path.string());
    std::ifstream in(labels_path);
    std::string line;
    for (int64_t number = 1; std::getline(in, line); ++number) {
      int32_t label = -1;
      const auto [end, error] = std::from_chars(line.data(), line.data() + line.size(), label);
      KILN_CHECK(error == std::errc() && end == line.data() + line.size(), "{}:{}: '{}' is not a class id",
                 labels_path.string(), number, line);
      KILN_CHECK(label >= 0 && label < static_cast<int32_t>(set.classes.size()),
                 "{}:{}: class {} is outside the {} classes of {}", labels_path.string(), number, label,
                 set.classes.size(), classes_path.string());
      stream.frame_labels.push_back(label);
    }
    KILN_CHECK(!stream.frame_labels.empty(), "{}: empty stream (no frame labels)", labels_path.string());
    const int64_t samples = static_cast<int64_t>(read_wav(stream.audio).size());
    const int64_t frames = samples / kStreamFrameHop;
    KILN_CHECK(frames == static_cast<int64_t>(stream.frame_labels.size()),
               "{}: {} frame labels, but {} has {} samples = {} frames of {}", labels_path.string(),
               stream.frame_labels.size(), stream.audio.string(), samples, frames, kStreamFrameHop);
    set.streams.push_back(std::move(stream));
  }
  KILN_CHECK(!set.streams.empty(), "{}: no streams", manifest.string());
  return set;
}

}  // namespace kiln::data
