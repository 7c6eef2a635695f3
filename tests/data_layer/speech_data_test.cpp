// The audio data layer: WAV files through libsndfile (round trip and the
// one-line errors for bad files), the 22050 → 16000 Hz resampler, log-mel
// features against numpy (tests/reference/log_mel.py), and tiny espeak-ng
// speech and keyword-stream sets: deterministic, well split, labelled, and
// their readers' errors.
#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>

#include "kiln/base/error.hpp"
#include "kiln/data/keyword_stream.hpp"
#include "kiln/data/log_mel.hpp"
#include "kiln/data/resample.hpp"
#include "kiln/data/speech_corpus.hpp"
#include "kiln/data/wav.hpp"
#include "support/reference.hpp"
#include "support/error_text.hpp"

namespace kiln::data {
namespace {

namespace fs = std::filesystem;
constexpr double kPi = 3.14159265358979323846;

using kiln::testing::error_of;

// The message is one line, names `file` and says `what`.
void expect_error(const std::function<void()>& f, const fs::path& file, const std::string& what) {
  const std::string message = error_of(f);
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find(what), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Every file under `root`, relative path → bytes.
std::map<std::string, std::string> tree(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root))
    if (entry.is_regular_file()) files[fs::relative(entry.path(), root).string()] = read_text(entry.path());
  return files;
}

std::vector<float> sine(double hz, double amplitude, int rate, int64_t n) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>(amplitude * std::sin(2 * kPi * hz * i / rate));
  return x;
}

// Normalised KJV-style lines (as scripts/prepare-kjv.sh writes them).
const char* const kVerses =
    "in the beginning god created the heaven and the earth .\n"
    "and god said , let there be light : and there was light .\n"
    "and god saw the light , that it was good .\n"
    "and the evening and the morning were the first day .\n"
    "and god called the firmament heaven .\n"
    "and the earth brought forth grass , and herb yielding seed .\n"
    "and god made two great lights .\n"
    "and god blessed them , saying , be fruitful , and multiply .\n"
    "jesus wept .\n"
    "the lord is my shepherd ; i shall not want .\n"
    "he maketh me to lie down in green pastures .\n"
    "blessed are the meek : for they shall inherit the earth .\n";

class SpeechData : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_speech_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    write_text(dir_ / "verses.txt", kVerses);
  }
  void TearDown() override { fs::remove_all(dir_); }

  SpeechCorpusOptions tiny_corpus(const fs::path& out) const {
    SpeechCorpusOptions o;
    o.text = dir_ / "verses.txt";
    o.out = out;
    o.speakers = 2;
    o.utterances_per_speaker = 3;
    o.min_words = 3;
    o.max_words = 12;
    o.seed = 11;
    return o;
  }

  KeywordStreamOptions tiny_streams(const fs::path& out) const {
    KeywordStreamOptions o;
    o.text = dir_ / "verses.txt";
    o.out = out;
    o.train_streams = 2;
    o.valid_streams = 1;
    o.test_streams = 1;
    o.seconds = 5;
    o.speakers = 4;
    o.seed = 3;
    return o;
  }

  fs::path dir_;
};

TEST_F(SpeechData, WavRoundTrip) {
  std::vector<float> x = sine(440, 0.7, kSpeechSampleRate, 1000);
  x[10] = 1.5f;  // clipped to full scale
  x[11] = -2.0f;
  const fs::path path = dir_ / "a.wav";
  write_wav(path, x);
  EXPECT_FALSE(fs::exists(dir_ / ("a.wav.tmp." + std::to_string(::getpid()))));
  const std::vector<float> y = read_wav(path);
  ASSERT_EQ(y.size(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float expected = std::clamp(x[i], -1.0f, 1.0f);
    EXPECT_NEAR(y[i], expected, 1.0 / 32768 + 1e-7) << i;
  }
  // Another rate is kept in the header and checked on reading.
  write_wav(dir_ / "b.wav", x, 22050);
  EXPECT_EQ(read_wav(dir_ / "b.wav", 22050).size(), x.size());
}

TEST_F(SpeechData, WavErrorsNameTheFile) {
  const std::vector<float> x = sine(300, 0.5, kSpeechSampleRate, 4000);
  expect_error([&] { read_wav(dir_ / "missing.wav"); }, dir_ / "missing.wav", "no such file");

  write_text(dir_ / "text.wav", "this is not audio at all, just some words in a file\n");
  expect_error([&] { read_wav(dir_ / "text.wav"); }, dir_ / "text.wav", "not a WAV file");

  write_wav(dir_ / "rate.wav", x, 22050);
  expect_error([&] { read_wav(dir_ / "rate.wav"); }, dir_ / "rate.wav", "sample rate 22050 Hz; 16000 Hz is expected");

  SF_INFO info{};
  info.samplerate = kSpeechSampleRate;
  info.channels = 2;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* stereo = sf_open((dir_ / "stereo.wav").c_str(), SFM_WRITE, &info);
  ASSERT_NE(stereo, nullptr);
  std::vector<float> interleaved(200, 0.25f);
  sf_writef_float(stereo, interleaved.data(), 100);
  sf_close(stereo);
  expect_error([&] { read_wav(dir_ / "stereo.wav"); }, dir_ / "stereo.wav", "2 channels; mono audio is expected");

  write_wav(dir_ / "empty.wav", std::vector<float>{});
  expect_error([&] { read_wav(dir_ / "empty.wav"); }, dir_ / "empty.wav", "no samples");

  write_wav(dir_ / "whole.wav", x);
  const std::string bytes = read_text(dir_ / "whole.wav");
  write_text(dir_ / "cut.wav", bytes.substr(0, bytes.size() / 2));  // data chunk cut short
  expect_error([&] { read_wav(dir_ / "cut.wav"); }, dir_ / "cut.wav", "truncated");
  write_text(dir_ / "head.wav", bytes.substr(0, 30));  // inside the format chunk
  expect_error([&] { read_wav(dir_ / "head.wav"); }, dir_ / "head.wav", "truncated");
  write_text(dir_ / "zero.wav", "");
  expect_error([&] { read_wav(dir_ / "zero.wav"); }, dir_ / "zero.wav", "empty file");
}

TEST_F(SpeechData, ResampleKeepsFrequencyAndAmplitude) {
  const std::vector<float> in = sine(1000, 0.5, 22050, 22050);
  const std::vector<float> out = resample(in, 22050, 16000);
  ASSERT_EQ(out.size(), 16000u);
  double worst = 0, energy = 0;
  for (int64_t n = 200; n < 16000 - 200; ++n) {  // away from the zero-padded ends
    const double expected = 0.5 * std::sin(2 * kPi * 1000 * n / 16000.0);
    worst = std::max(worst, std::abs(out[static_cast<size_t>(n)] - expected));
    energy += out[static_cast<size_t>(n)] * out[static_cast<size_t>(n)];
  }
  EXPECT_LT(worst, 1e-3);
  EXPECT_NEAR(std::sqrt(energy / (16000 - 400)), 0.5 / std::sqrt(2.0), 1e-3);
  // A tone above the new Nyquist frequency (9 kHz > 8 kHz) is removed, not folded to 7 kHz.
  const std::vector<float> high = resample(sine(9000, 0.5, 22050, 22050), 22050, 16000);
  double peak = 0;
  for (int64_t n = 200; n < 16000 - 200; ++n) peak = std::max(peak, std::abs(static_cast<double>(high[static_cast<size_t>(n)])));
  EXPECT_LT(peak, 0.01);
  EXPECT_EQ(resample(in, 22050, 22050), in);
  EXPECT_THROW(resample(in, 0, 16000), Error);
}

TEST_F(SpeechData, LogMelMatchesNumpy) {
  const io::TensorMap ref = testing::load_reference("log_mel");
  for (const std::string c : {"a", "b"}) {
    const std::vector<int64_t> o = testing::at(ref, c + ".options").to_vector<int64_t>();
    LogMelOptions options;
    options.sample_rate = static_cast<int>(o[0]);
    options.n_fft = static_cast<int>(o[1]);
    options.hop = static_cast<int>(o[2]);
    options.n_mels = static_cast<int>(o[3]);
    options.floor = testing::at(ref, c + ".floor").to_vector<double>()[0];
    const LogMel mel(options);
    const std::vector<float> signal = testing::at(ref, c + ".signal").to_vector<float>();
    const Tensor& expected = testing::at(ref, c + ".log_mel");
    const std::vector<float> got = mel.compute(signal);
    ASSERT_EQ(mel.frames(static_cast<int64_t>(signal.size())), expected.size(0)) << c;
    ASSERT_EQ(mel.n_mels(), expected.size(1)) << c;
    const Tensor actual = Tensor::from(got, Shape{expected.size(0), expected.size(1)}).to(expected.dtype());
    EXPECT_TRUE(testing::all_close(actual, expected, 1e-4, 2e-4)) << "case " << c;
  }
  EXPECT_EQ(LogMel().frames(159), 0);
  EXPECT_TRUE(LogMel().compute(std::vector<float>(100, 0.5f)).empty());
}

TEST_F(SpeechData, LogMelStreamEqualsTheWholeSignalInAnyChunks) {
  std::vector<float> signal(4000);
  uint32_t state = 99;
  for (float& x : signal) {
    state = state * 1664525u + 1013904223u;
    x = static_cast<float>(state >> 8) / 16777216.0f - 0.5f;
  }
  const std::vector<float> whole = LogMel().compute(signal);  // 25 frames of 40
  for (const size_t chunk : {size_t{1}, size_t{37}, size_t{160}, size_t{1000}, signal.size()}) {
    LogMelStream stream;
    std::vector<float> frames;
    for (size_t at = 0; at < signal.size(); at += chunk) {
      const size_t end = std::min(signal.size(), at + chunk);
      const std::vector<float> ready = stream.push(std::span<const float>(signal).subspan(at, end - at));
      frames.insert(frames.end(), ready.begin(), ready.end());
      // Frame t comes out as soon as its window (up to t·160 + 280) is in, not later.
      const auto received = static_cast<int64_t>(end);
      EXPECT_EQ(stream.frames_out(), received < 280 ? 0 : std::min<int64_t>(25, (received - 280) / 160 + 1)) << chunk;
    }
    const std::vector<float> rest = stream.finish();
    frames.insert(frames.end(), rest.begin(), rest.end());
    ASSERT_EQ(frames.size(), whole.size()) << chunk;
    for (size_t i = 0; i < whole.size(); ++i) ASSERT_EQ(frames[i], whole[i]) << "chunk " << chunk << " value " << i;
  }
}

TEST_F(SpeechData, TinyCorpusIsDeterministicAndWellSplit) {
  synthesize_speech_corpus(tiny_corpus(dir_ / "c1"));
  int64_t calls = 0;
  synthesize_speech_corpus(tiny_corpus(dir_ / "c2"), [&](int64_t done, int64_t total) {
    EXPECT_EQ(done, ++calls);
    EXPECT_EQ(total, 6);
  });
  EXPECT_EQ(calls, 6);
  const auto a = tree(dir_ / "c1"), b = tree(dir_ / "c2");
  EXPECT_EQ(a.size(), 4u + 6u);  // speakers.tsv, three manifests, six WAV files
  EXPECT_TRUE(a == b) << "the same seed gave different files";
  for (const auto& entry : fs::directory_iterator(dir_))  // no staging folders left behind
    EXPECT_FALSE(entry.path().filename().string().starts_with(".")) << entry.path();

  std::set<std::string> seen_texts;
  for (const std::string split : {"train", "valid", "test"}) {
    const SpeechSet set = read_speech_set(dir_ / "c1", split);
    ASSERT_EQ(set.speakers.size(), 2u);
    EXPECT_NE(set.speakers[0], set.speakers[1]);
    std::set<int64_t> speakers;
    for (const Utterance& u : set.utterances) {
      speakers.insert(u.speaker);
      EXPECT_TRUE(seen_texts.insert(u.text).second) << "text in two splits or twice: " << u.text;
      const std::vector<float> audio = read_wav(u.audio);
      const double seconds = static_cast<double>(audio.size()) / kSpeechSampleRate;
      EXPECT_GT(seconds, 0.5) << u.text;
      ASSERT_FALSE(u.words.empty()) << u.text;
      double previous = 0;
      for (const WordTiming& w : u.words) {
        EXPECT_FALSE(w.word.empty());
        EXPECT_GE(w.start, previous - 1e-9) << u.text;
        EXPECT_GE(w.end, w.start);
        EXPECT_LE(w.end, seconds + 1e-3);
        previous = w.start;
      }
      EXPECT_NE(u.text.find(u.words.front().word), std::string::npos) << u.text;
    }
    EXPECT_EQ(speakers, (std::set<int64_t>{0, 1})) << split;
  }
  // Another seed, other speakers or texts.
  SpeechCorpusOptions other = tiny_corpus(dir_ / "c3");
  other.seed = 12;
  synthesize_speech_corpus(other);
  EXPECT_FALSE(tree(dir_ / "c3") == a);
}

TEST_F(SpeechData, CorpusErrors) {
  SpeechCorpusOptions o = tiny_corpus(dir_ / "c");
  o.text = dir_ / "none.txt";
  expect_error([&] { synthesize_speech_corpus(o); }, dir_ / "none.txt", "no such file");
  o = tiny_corpus(dir_ / "c");
  o.speakers = 5;  // 15 utterances, 12 lines
  expect_error([&] { synthesize_speech_corpus(o); }, dir_ / "verses.txt", "need 15");
  o = tiny_corpus(dir_ / "c");
  o.utterances_per_speaker = 2;
  EXPECT_NE(error_of([&] { synthesize_speech_corpus(o); }).find("at least 3"), std::string::npos);
  // A folder that is not a set is never replaced.
  fs::create_directories(dir_ / "precious");
  write_text(dir_ / "precious" / "notes.txt", "keep me");
  o = tiny_corpus(dir_ / "precious");
  expect_error([&] { synthesize_speech_corpus(o); }, dir_ / "precious", "not a set made by this command");
  EXPECT_TRUE(fs::exists(dir_ / "precious" / "notes.txt"));
  EXPECT_FALSE(fs::exists(dir_ / "c"));
}

TEST_F(SpeechData, SpeechSetReaderErrors) {
  const fs::path set = dir_ / "set";
  synthesize_speech_corpus(tiny_corpus(set));
  const std::string manifest = read_text(set / "train.tsv");
  const size_t first_row = manifest.find('\n') + 1;
  const std::string row = manifest.substr(first_row, manifest.find('\n', first_row) - first_row + 1);
  const std::string file = row.substr(0, row.find('\t'));

  write_text(set / "train.tsv", manifest + "wav/s09/999.wav" + row.substr(row.find('\t')));
  expect_error([&] { read_speech_set(set, "train"); }, set / "train.tsv", "no such audio file");
  std::string bad_speaker = row;
  bad_speaker.replace(row.find('\t') + 1, 1, "7");
  write_text(set / "train.tsv", manifest + bad_speaker);
  expect_error([&] { read_speech_set(set, "train"); }, set / "train.tsv", "unknown speaker id '7'");
  write_text(set / "train.tsv", manifest + file + "\t0\tjust two fields\n");
  expect_error([&] { read_speech_set(set, "train"); }, set / "train.tsv", "3 tab-separated fields, expected 4");
  write_text(set / "train.tsv", manifest + file + "\t0\tsome text\tword@1.0\n");
  expect_error([&] { read_speech_set(set, "train"); }, set / "train.tsv", "word@start-end");
  expect_error([&] { read_speech_set(set, "dev"); }, set / "dev.tsv", "no such file");
  expect_error([&] { read_speech_set(dir_ / "nowhere", "train"); }, dir_ / "nowhere", "no such folder");
}

TEST_F(SpeechData, TinyStreamsHaveFrameLabels) {
  const fs::path out = dir_ / "streams";
  int64_t last = 0;
  synthesize_keyword_streams(tiny_streams(out), [&](int64_t done, int64_t total) {
    last = done;
    EXPECT_EQ(total, 4);
  });
  EXPECT_EQ(last, 4);
  synthesize_keyword_streams(tiny_streams(dir_ / "again"));
  EXPECT_TRUE(tree(out) == tree(dir_ / "again")) << "the same seed gave different files";

  int64_t keyword_frames = 0, loud_keyword_frames = 0;
  std::set<int32_t> classes_seen;
  size_t streams = 0;
  for (const std::string split : {"train", "valid", "test"}) {
    const StreamSet set = read_stream_set(out, split);
    ASSERT_EQ(set.classes.size(), 11u);
    EXPECT_EQ(set.classes[0], "background");
    EXPECT_EQ(set.classes[1], "zero");
    EXPECT_EQ(set.classes[10], "nine");
    streams += set.streams.size();
    for (const LabelledStream& s : set.streams) {
      const std::vector<float> audio = read_wav(s.audio);
      ASSERT_EQ(audio.size(), 5u * kSpeechSampleRate);
      ASSERT_EQ(static_cast<int64_t>(s.frame_labels.size()), 5 * kSpeechSampleRate / kStreamFrameHop);
      // Noise everywhere: silence is not digital zero (a 16-bit sample of
      // noise with σ = 0.003 rounds to 0 about 0.4% of the time).
      EXPECT_LT(std::count(audio.begin(), audio.end(), 0.0f), static_cast<long>(audio.size() / 50));
      for (size_t f = 0; f < s.frame_labels.size(); ++f) {
        if (s.frame_labels[f] == 0) continue;
        ++keyword_frames;
        classes_seen.insert(s.frame_labels[f]);
        double energy = 0;
        for (int64_t i = 0; i < kStreamFrameHop; ++i) {
          const double x = audio[f * kStreamFrameHop + static_cast<size_t>(i)];
          energy += x * x;
        }
        loud_keyword_frames += std::sqrt(energy / kStreamFrameHop) > 0.01;  // above the noise (0.003)
      }
    }
  }
  EXPECT_EQ(streams, 4u);
  EXPECT_GT(keyword_frames, 20);
  EXPECT_GE(classes_seen.size(), 2u);
  // Most keyword frames hold speech (a few are the quiet parts inside a word).
  EXPECT_GT(loud_keyword_frames, keyword_frames * 7 / 10);
}

TEST_F(SpeechData, StreamSetReaderErrors) {
  const fs::path out = dir_ / "streams";
  KeywordStreamOptions o = tiny_streams(out);
  o.train_streams = 1;
  o.valid_streams = o.test_streams = 0;
  o.seconds = 3;
  synthesize_keyword_streams(o);
  const fs::path labels = out / "streams" / "0000.labels";
  const std::string good_labels = read_text(labels), manifest = read_text(out / "train.tsv");

  write_text(labels, good_labels + "0\n");
  expect_error([&] { read_stream_set(out, "train"); }, labels, "301 frame labels, but");
  write_text(labels, good_labels.substr(0, good_labels.rfind('\n', good_labels.size() - 2) + 1));  // last line dropped
  expect_error([&] { read_stream_set(out, "train"); }, labels, "299 frame labels, but");
  write_text(labels, "11\n" + good_labels.substr(2));
  expect_error([&] { read_stream_set(out, "train"); }, labels.string() + ":1", "class 11 is outside the 11 classes");
  write_text(labels, "x\n" + good_labels.substr(2));
  expect_error([&] { read_stream_set(out, "train"); }, labels.string() + ":1", "'x' is not a class id");
  write_text(labels, "");
  expect_error([&] { read_stream_set(out, "train"); }, labels, "empty stream");
  write_text(labels, good_labels);
  EXPECT_EQ(read_stream_set(out, "train").streams.size(), 1u);

  write_text(out / "train.tsv", manifest + "streams/0099.wav\tstreams/0000.labels\n");
  expect_error([&] { read_stream_set(out, "train"); }, out / "train.tsv", "no such audio file");
  write_text(out / "train.tsv", manifest + "streams/0000.wav\tstreams/0099.labels\n");
  expect_error([&] { read_stream_set(out, "train"); }, out / "train.tsv", "no such label file");
  expect_error([&] { read_stream_set(out, "valid"); }, out / "valid.tsv", "no streams");
  fs::remove(out / "test.tsv");
  expect_error([&] { read_stream_set(out, "test"); }, out / "test.tsv", "no such file");
}

}  // namespace
}  // namespace kiln::data
