#include "kiln/data/speech_corpus.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "espeak.hpp"
#include "kiln/base/error.hpp"
#include "kiln/data/wav.hpp"

namespace kiln::data {

namespace fs = std::filesystem;

namespace {

const char* const kSpeakersHeader = "id\tname\tvoice\tpitch\trate";
const char* const kSplitHeader = "file\tspeaker\ttext\twords";

bool parse_int(const std::string& text, int64_t& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

bool parse_double(const std::string& text, double& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

// Verses with min_words … max_words words, spoken form, duplicates dropped, in file order.
std::vector<std::string> eligible_texts(const SpeechCorpusOptions& o) {
  KILN_CHECK(fs::is_regular_file(o.text), "{}: no such file (scripts/prepare-kjv.sh writes data/kjv/train.txt)",
             o.text.string());
  std::ifstream in(o.text);
  KILN_CHECK(in.good(), "{}: cannot open", o.text.string());
  std::vector<std::string> texts;
  std::set<std::string> seen;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> words;
    const std::string spoken = speech::speakable(line, &words);
    const auto n = static_cast<int64_t>(words.size());
    if (n < o.min_words || n > o.max_words || spoken.find('\t') != std::string::npos) continue;
    if (seen.insert(spoken).second) texts.push_back(spoken);
  }
  return texts;
}

std::string words_field(const std::vector<WordTiming>& words) {
  std::string out;
  for (const WordTiming& w : words) {
    if (!out.empty()) out += ' ';
    out += fmt::format("{}@{:.3f}-{:.3f}", w.word, w.start, w.end);
  }
  return out;
}

}  // namespace

void synthesize_speech_corpus(const SpeechCorpusOptions& o, const std::function<void(int64_t, int64_t)>& progress) {
  KILN_CHECK(o.speakers >= 1, "speech corpus: --speakers must be at least 1, got {}", o.speakers);
  KILN_CHECK(o.min_words >= 1 && o.min_words <= o.max_words, "speech corpus: words per utterance {}–{} is not a range",
             o.min_words, o.max_words);
  KILN_CHECK(o.valid_fraction >= 0 && o.test_fraction >= 0 && o.valid_fraction + o.test_fraction < 1,
             "speech corpus: valid fraction {} and test fraction {} must be non-negative and sum below 1",
             o.valid_fraction, o.test_fraction);
  const int64_t per = o.utterances_per_speaker;
  const int64_t n_valid = std::max<int64_t>(1, std::llround(static_cast<double>(per) * o.valid_fraction));
  const int64_t n_test = std::max<int64_t>(1, std::llround(static_cast<double>(per) * o.test_fraction));
  const int64_t n_train = per - n_valid - n_test;
  KILN_CHECK(n_train >= 1, "speech corpus: {} utterances per speaker cannot give every speaker train, valid and test "
             "utterances ({} valid and {} test); use at least {}", per, n_valid, n_test, n_valid + n_test + 1);
  const std::vector<speech::Speaker> speakers = speech::choose_speakers(o.speakers, o.seed);
  const std::vector<std::string> texts = eligible_texts(o);
  const int64_t needed = o.speakers * per;
  KILN_CHECK(static_cast<int64_t>(texts.size()) >= needed,
             "{}: {} distinct lines of {}–{} words, but {} speakers × {} utterances need {}", o.text.string(),
             texts.size(), o.min_words, o.max_words, o.speakers, per, needed);

  // A seeded partial shuffle picks `needed` distinct texts; text k·speakers + s
  // goes to utterance k of speaker s, and utterance k's split depends on k
  // alone, so splits share no text and every speaker is in every split.
  std::mt19937_64 rng(o.seed ^ 0x9e3779b97f4a7c15ULL);
  std::vector<int64_t> order(texts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  for (int64_t i = 0; i < needed; ++i) {
    const uint64_t left = order.size() - static_cast<uint64_t>(i);
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(i) + rng() % left]);
  }

  speech::StagedFolder folder(o.out, "speakers.tsv");
  std::string speakers_tsv = std::string(kSpeakersHeader) + "\n";
  for (size_t s = 0; s < speakers.size(); ++s)
    speakers_tsv += fmt::format("{}\t{}\t{}\t{}\t{}\n", s, speakers[s].name, speakers[s].voice, speakers[s].pitch,
                                speakers[s].rate);
  speech::write_text(folder.path() / "speakers.tsv", speakers_tsv);

  const char* const split_names[3] = {"train", "valid", "test"};
  std::string manifests[3];
  for (std::string& m : manifests) m = std::string(kSplitHeader) + "\n";
  speech::Synthesizer synthesizer;
  int64_t done = 0;
  for (int64_t s = 0; s < o.speakers; ++s) {
    const speech::Speaker& speaker = speakers[static_cast<size_t>(s)];
    fs::create_directories(folder.path() / "wav" / speaker.name);
    for (int64_t k = 0; k < per; ++k) {
      const std::string& text = texts[static_cast<size_t>(order[static_cast<size_t>(k * o.speakers + s)])];
      const speech::Clip clip = synthesizer.speak(speaker, text);
      const std::string file = fmt::format("wav/{}/{:03d}.wav", speaker.name, k);
      write_wav(folder.path() / file, clip.samples);
      const int split = k < n_train ? 0 : k < n_train + n_valid ? 1 : 2;
      manifests[split] += fmt::format("{}\t{}\t{}\t{}\n", file, s, text, words_field(clip.words));
      if (progress) progress(++done, needed);
    }
  }
  for (int split = 0; split < 3; ++split)
    speech::write_text(folder.path() / (std::string(split_names[split]) + ".tsv"), manifests[split]);
  folder.commit();
}

SpeechSet read_speech_set(const fs::path& folder, const std::string& split) {
  KILN_CHECK(fs::is_directory(folder), "{}: no such folder (make one with `kiln data speech`)", folder.string());
  SpeechSet set;
  const fs::path speakers_path = folder / "speakers.tsv";
  for (const speech::TsvRow& row : speech::read_tsv(speakers_path, kSpeakersHeader)) {
    int64_t id = -1;
    KILN_CHECK(parse_int(row.fields[0], id) && id == static_cast<int64_t>(set.speakers.size()),
               "{}:{}: speaker id '{}', expected {} (ids count up from 0)", speakers_path.string(), row.line,
               row.fields[0], set.speakers.size());
    set.speakers.push_back(row.fields[1]);
  }
  KILN_CHECK(!set.speakers.empty(), "{}: no speakers", speakers_path.string());
  const fs::path manifest = folder / (split + ".tsv");
  for (const speech::TsvRow& row : speech::read_tsv(manifest, kSplitHeader)) {
    const std::string where = fmt::format("{}:{}", manifest.string(), row.line);
    Utterance u;
    u.audio = fs::absolute(folder / row.fields[0]).lexically_normal();
    KILN_CHECK(!row.fields[0].empty() && fs::is_regular_file(u.audio), "{}: {}: no such audio file", where,
               u.audio.string());
    KILN_CHECK(parse_int(row.fields[1], u.speaker) && u.speaker >= 0 &&
                   u.speaker < static_cast<int64_t>(set.speakers.size()),
               "{}: unknown speaker id '{}' ({} has {} speakers)", where, row.fields[1], speakers_path.string(),
               set.speakers.size());
    u.text = row.fields[2];
    std::istringstream items(row.fields[3]);
    std::string item;
    while (items >> item) {
      const size_t at = item.rfind('@'), dash = item.find('-', at == std::string::npos ? 0 : at);
      WordTiming w;
      const bool ok = at != std::string::npos && at > 0 && dash != std::string::npos &&
                      parse_double(item.substr(at + 1, dash - at - 1), w.start) &&
                      parse_double(item.substr(dash + 1), w.end) && w.start >= 0 && w.end >= w.start;
      KILN_CHECK(ok, "{}: word timing '{}' is not word@start-end (seconds)", where, item);
      w.word = item.substr(0, at);
      u.words.push_back(std::move(w));
    }
    set.utterances.push_back(std::move(u));
  }
  KILN_CHECK(!set.utterances.empty(), "{}: no utterances", manifest.string());
  return set;
}

}  // namespace kiln::data
