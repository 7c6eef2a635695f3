#include "espeak.hpp"

#include <espeak-ng/speak_lib.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include "kiln/base/error.hpp"
#include "kiln/base/shared_library.hpp"
#include "kiln/data/resample.hpp"
#include "kiln/data/wav.hpp"
#include "kiln/io/atomic_file.hpp"

namespace kiln::data::speech {

namespace fs = std::filesystem;

namespace {

// English base voices of espeak-ng and the voice variants (espeak-ng-data/voices/!v)
// that sound like distinct people; whisper, croak and the novelty voices are left out.
const std::vector<std::string> kBaseVoices = {"en-us", "en", "en-gb-scotland", "en-gb-x-rp",
                                              "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd"};
const std::vector<std::string> kVariants = {"m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1",
                                            "f2", "f3", "f4", "klatt", "klatt3"};

// Fisher–Yates with the raw mt19937_64 stream (the standard fixes its output;
// std::shuffle and the distributions are implementation-defined).
std::vector<int64_t> permutation(int64_t n, std::mt19937_64& rng) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[static_cast<size_t>(i)], order[rng() % static_cast<uint64_t>(i + 1)]);
  return order;
}

struct Capture {
  std::vector<short> samples;
  struct Word {
    int32_t position = 0, length = 0, ms = 0;  // espeak's text_position (1-based), length, audio_position
  };
  std::vector<Word> words;
};

int on_synth(short* wav, int count, espeak_EVENT* events) {
  if (events == nullptr) return 0;
  auto* capture = static_cast<Capture*>(events->user_data);
  if (capture == nullptr) return 0;
  for (espeak_EVENT* e = events; e->type != espeakEVENT_LIST_TERMINATED; ++e)
    if (e->type == espeakEVENT_WORD) capture->words.push_back({e->text_position, e->length, e->audio_position});
  if (wav != nullptr && count > 0) capture->samples.insert(capture->samples.end(), wav, wav + count);
  return 0;  // go on
}

// What the child process reports: 0, or the step that failed.
enum ChildStatus : int32_t {
  kOk = 0,
  kNoInit = 1,
  kNoVoice = 2,
  kNoParameters = 3,
  kNoSynthesis = 4,
  kNoLibrary = 5
};

constexpr const char* kEspeakSoname = "libespeak-ng.so.1";

// espeak-ng's functions, from the shared library opened when speech is first
// made rather than linked: linked, it and the 20 audio and X11 libraries it
// pulls in cost every kiln command about 7 ms of dynamic loading at start.
class EspeakApi {
 public:
  EspeakApi() : library_(kEspeakSoname) {
    const bool found = library_.bind(initialize, "espeak_Initialize") &&
                       library_.bind(set_synth_callback, "espeak_SetSynthCallback") &&
                       library_.bind(terminate, "espeak_Terminate") &&
                       library_.bind(set_voice_by_name, "espeak_SetVoiceByName") &&
                       library_.bind(set_parameter, "espeak_SetParameter") && library_.bind(synth, "espeak_Synth");
    if (!found) library_.close();
  }
  bool loaded() const { return library_.loaded(); }

  decltype(&espeak_Initialize) initialize = nullptr;
  decltype(&espeak_SetSynthCallback) set_synth_callback = nullptr;
  decltype(&espeak_Terminate) terminate = nullptr;
  decltype(&espeak_SetVoiceByName) set_voice_by_name = nullptr;
  decltype(&espeak_SetParameter) set_parameter = nullptr;
  decltype(&espeak_Synth) synth = nullptr;

 private:
  SharedLibrary library_;
};

// Opened once per process, before the first fork, so that every synthesis
// child inherits the mapped library instead of loading it again.
const EspeakApi& espeak_api() {
  static const EspeakApi api;
  return api;
}

// espeak-ng's global state as one object: initialised on construction,
// terminated on destruction. Lives only in the child process.
class EspeakLibrary {
 public:
  explicit EspeakLibrary(const EspeakApi& api)
      : api_(api),
        rate_(api_.loaded() ? api_.initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nullptr, espeakINITIALIZE_DONT_EXIT) : 0) {
    if (rate_ > 0) api_.set_synth_callback(on_synth);
  }
  ~EspeakLibrary() {
    if (rate_ > 0) api_.terminate();
  }
  EspeakLibrary(const EspeakLibrary&) = delete;
  EspeakLibrary& operator=(const EspeakLibrary&) = delete;
  int rate() const { return rate_; }

  ChildStatus speak(const Speaker& speaker, const std::string& text, Capture& capture) {
    if (!api_.loaded()) return kNoLibrary;
    if (rate_ <= 0) return kNoInit;
    if (api_.set_voice_by_name(speaker.voice.c_str()) != EE_OK) return kNoVoice;
    if (api_.set_parameter(espeakRATE, speaker.rate, 0) != EE_OK ||
        api_.set_parameter(espeakPITCH, speaker.pitch, 0) != EE_OK ||
        api_.set_parameter(espeakRANGE, speaker.range, 0) != EE_OK)
      return kNoParameters;
    // Synchronous output: espeak_Synth returns once every sample has gone
    // through the callback (espeak_Synchronize can hang in this mode).
    if (api_.synth(text.c_str(), text.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, nullptr, &capture) != EE_OK)
      return kNoSynthesis;
    return kOk;
  }

 private:
  const EspeakApi& api_;
  int rate_ = 0;
};

bool write_all(int fd, const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

// Child: synthesise, send status, rate, samples and word events down `fd`, exit.
[[noreturn]] void child_speak(int fd, const Speaker& speaker, const std::string& text) {
  int code = 1;
  try {
    Capture capture;
    int32_t status = kOk, rate = 0;
    {
      EspeakLibrary library(espeak_api());
      status = library.speak(speaker, text, capture);
      rate = library.rate();
    }
    const int64_t n_samples = static_cast<int64_t>(capture.samples.size());
    const int64_t n_words = static_cast<int64_t>(capture.words.size());
    const bool ok = write_all(fd, &status, sizeof status) && write_all(fd, &rate, sizeof rate) &&
                    write_all(fd, &n_samples, sizeof n_samples) &&
                    write_all(fd, capture.samples.data(), capture.samples.size() * sizeof(short)) &&
                    write_all(fd, &n_words, sizeof n_words) &&
                    write_all(fd, capture.words.data(), capture.words.size() * sizeof(Capture::Word));
    code = ok ? 0 : 1;
  } catch (...) {
    code = 1;
  }
  ::close(fd);
  ::_exit(code);
}

// Runs child_speak in a fresh process and collects its report.
Capture speak_in_child(const Speaker& speaker, const std::string& text, int& rate) {
  KILN_CHECK(espeak_api().loaded(), "espeak-ng: cannot load {} (apt-get install libespeak-ng1)", kEspeakSoname);
  int fds[2];
  KILN_CHECK(::pipe2(fds, O_CLOEXEC) == 0, "espeak-ng: cannot create a pipe: {}", std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    child_speak(fds[1], speaker, text);
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    fail("espeak-ng: cannot start a synthesis process: {}", std::strerror(errno));
  }
  std::vector<char> report;
  char chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    report.insert(report.end(), chunk, chunk + n);
  }
  ::close(fds[0]);
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  size_t offset = 0;
  const auto take = [&](void* out, size_t bytes) {
    if (offset + bytes > report.size()) return false;
    std::memcpy(out, report.data() + offset, bytes);
    offset += bytes;
    return true;
  };
  int32_t status = -1, child_rate = 0;
  int64_t n_samples = 0, n_words = 0;
  const bool exited = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
  KILN_CHECK(exited && take(&status, sizeof status) && take(&child_rate, sizeof child_rate),
             "espeak-ng: the synthesis process failed for \"{}\"", text);
  KILN_CHECK(status != kNoLibrary, "espeak-ng: cannot load {} (apt-get install libespeak-ng1)", kEspeakSoname);
  KILN_CHECK(status != kNoInit, "espeak-ng: cannot initialise (is espeak-ng-data installed? apt-get install espeak-ng)");
  KILN_CHECK(status != kNoVoice, "espeak-ng: no voice '{}'", speaker.voice);
  KILN_CHECK(status != kNoParameters, "espeak-ng: cannot set rate {}, pitch {}, range {} for voice '{}'", speaker.rate,
             speaker.pitch, speaker.range, speaker.voice);
  KILN_CHECK(status == kOk, "espeak-ng: synthesis failed for \"{}\"", text);
  Capture capture;
  bool ok = take(&n_samples, sizeof n_samples) && n_samples >= 0;
  if (ok) {
    capture.samples.resize(static_cast<size_t>(n_samples));
    ok = take(capture.samples.data(), capture.samples.size() * sizeof(short)) && take(&n_words, sizeof n_words) &&
         n_words >= 0;
  }
  if (ok) {
    capture.words.resize(static_cast<size_t>(n_words));
    ok = take(capture.words.data(), capture.words.size() * sizeof(Capture::Word)) && offset == report.size();
  }
  KILN_CHECK(ok, "espeak-ng: the synthesis process sent an incomplete report for \"{}\"", text);
  rate = child_rate;
  return capture;
}

}  // namespace

std::vector<Speaker> choose_speakers(int64_t count, uint64_t seed) {
  KILN_CHECK(count >= 1 && count <= 1000, "speakers: {} requested; between 1 and 1000 are supported", count);
  std::mt19937_64 rng(seed ^ 0x5be4c3a1d2f00d15ULL);
  const int64_t nb = static_cast<int64_t>(kBaseVoices.size()), nv = static_cast<int64_t>(kVariants.size());
  const std::vector<int64_t> bases = permutation(nb, rng), variants = permutation(nv, rng);
  const std::vector<int64_t> pitches = permutation(count, rng), rates = permutation(count, rng);
  const int64_t offset = static_cast<int64_t>(rng() % static_cast<uint64_t>(nb * nv));
  std::vector<Speaker> speakers;
  for (int64_t i = 0; i < count; ++i) {
    // 7 bases × 13 variants, coprime: the first 91 speakers get 91 different pairs.
    const int64_t k = i + offset;
    Speaker s;
    s.name = fmt::format("s{:02d}", i);
    s.voice = kBaseVoices[static_cast<size_t>(bases[static_cast<size_t>(k % nb)])] + "+" +
              kVariants[static_cast<size_t>(variants[static_cast<size_t>(k % nv)])];
    const double p = (static_cast<double>(pitches[static_cast<size_t>(i)]) + 0.5) / static_cast<double>(count);
    const double r = (static_cast<double>(rates[static_cast<size_t>(i)]) + 0.5) / static_cast<double>(count);
    s.pitch = static_cast<int>(std::lround(20 + 60 * p));  // espeak 0–100, 50 = the voice's own
    s.rate = static_cast<int>(std::lround(135 + 70 * r));  // words per minute
    s.range = static_cast<int>(30 + rng() % 51);
    speakers.push_back(s);
  }
  return speakers;
}

Clip Synthesizer::speak(const Speaker& speaker, const std::string& text) {
  int rate = 0;
  const Capture capture = speak_in_child(speaker, text, rate);
  std::vector<float> raw(capture.samples.size());
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<float>(capture.samples[i]) / 32768.0f;
  Clip clip;
  clip.samples = resample(raw, rate, kSpeechSampleRate);
  KILN_CHECK(!clip.samples.empty(), "espeak-ng: no audio for \"{}\"", text);

  // Word events give the start of each word espeak speaks on its own; it
  // speaks some unstressed words together with a neighbour ("in the"), and
  // those share their group's interval in proportion to their letters. A
  // group ends where the next one starts (or the clip ends), less silence.
  struct Token {
    size_t begin = 0, end = 0;  // characters of the word in `text`
  };
  std::vector<Token> tokens;
  for (size_t i = 0; i < text.size();) {
    while (i < text.size() && !std::isalnum(static_cast<unsigned char>(text[i]))) ++i;
    const size_t begin = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    size_t end = i;
    while (end > begin && !std::isalnum(static_cast<unsigned char>(text[end - 1]))) --end;
    if (end > begin) tokens.push_back({begin, end});
  }
  std::vector<std::pair<size_t, double>> starts;  // (first token, seconds)
  for (const Capture::Word& e : capture.words) {
    if (e.length <= 0) continue;  // pause markers
    const size_t at = static_cast<size_t>(std::max(0, e.position - 1));
    size_t t = 0;
    while (t < tokens.size() && tokens[t].end <= at) ++t;
    if (t == tokens.size() || (!starts.empty() && t <= starts.back().first)) continue;
    starts.emplace_back(starts.empty() ? 0 : t, starts.empty() ? 0.0 : e.ms / 1000.0);
  }
  const int64_t total = static_cast<int64_t>(clip.samples.size());
  const double seconds = static_cast<double>(total) / kSpeechSampleRate;
  float peak = 0;
  for (float x : clip.samples) peak = std::max(peak, std::abs(x));
  const float quiet = 0.02f * peak;
  for (size_t g = 0; g < starts.size(); ++g) {
    const size_t first = starts[g].first, last = g + 1 < starts.size() ? starts[g + 1].first : tokens.size();
    const double start = std::min(seconds, starts[g].second);
    const double next = g + 1 < starts.size() ? std::min(seconds, starts[g + 1].second) : seconds;
    const int64_t begin = static_cast<int64_t>(std::llround(start * kSpeechSampleRate));
    int64_t end = std::min<int64_t>(total, std::llround(next * kSpeechSampleRate));
    while (end > begin && std::abs(clip.samples[static_cast<size_t>(end - 1)]) <= quiet) --end;
    const double stop = std::max(start, static_cast<double>(end) / kSpeechSampleRate);
    size_t letters = 0;
    for (size_t t = first; t < last; ++t) letters += tokens[t].end - tokens[t].begin;
    size_t done = 0;
    for (size_t t = first; t < last; ++t) {
      WordTiming w;
      w.word = text.substr(tokens[t].begin, tokens[t].end - tokens[t].begin);
      w.start = start + (stop - start) * static_cast<double>(done) / static_cast<double>(letters);
      done += tokens[t].end - tokens[t].begin;
      w.end = start + (stop - start) * static_cast<double>(done) / static_cast<double>(letters);
      clip.words.push_back(std::move(w));
    }
  }
  return clip;
}

std::pair<int64_t, int64_t> voiced_span(const std::vector<float>& samples, double fraction) {
  float peak = 0;
  for (float x : samples) peak = std::max(peak, std::abs(x));
  if (peak == 0) return {0, 0};
  const float quiet = static_cast<float>(fraction) * peak;
  int64_t first = 0, last = static_cast<int64_t>(samples.size());
  while (first < last && std::abs(samples[static_cast<size_t>(first)]) <= quiet) ++first;
  while (last > first && std::abs(samples[static_cast<size_t>(last - 1)]) <= quiet) --last;
  return {first, last};
}

std::string speakable(const std::string& line, std::vector<std::string>* words) {
  std::istringstream in(line);
  std::vector<std::string> tokens;
  for (std::string token; in >> token;) tokens.push_back(token);
  const auto is_word = [](const std::string& t) {
    return std::any_of(t.begin(), t.end(), [](unsigned char c) { return std::isalnum(c); });
  };
  // The normalisation of scripts/prepare-kjv.sh spaces out every punctuation
  // mark; put them back as written: "lord ' s" → "lord's", "to - morrow" →
  // "to-morrow", "( and" → "(and", "said , let" → "said, let".
  static const std::vector<std::string> kClitics = {"s", "t", "d", "ll", "re", "ve"};
  std::string out;
  bool glue = true;  // the next token follows without a space
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (is_word(t)) {
      out += glue || out.empty() ? "" : " ";
      out += t;
      glue = false;
    } else if (t == "(") {
      out += out.empty() ? "(" : " (";
      glue = true;
    } else if (out.empty()) {
      continue;  // leading punctuation is dropped
    } else {
      out += t;
      const bool next_clitic = i + 1 < tokens.size() &&
                               std::find(kClitics.begin(), kClitics.end(), tokens[i + 1]) != kClitics.end();
      glue = t == "-" || (t == "'" && next_clitic);
    }
  }
  if (words != nullptr) {
    std::istringstream spoken(out);
    for (std::string token; spoken >> token;) {
      const auto first = std::find_if(token.begin(), token.end(), [](unsigned char c) { return std::isalnum(c); });
      const auto last = std::find_if(token.rbegin(), token.rend(), [](unsigned char c) { return std::isalnum(c); }).base();
      if (first < last) words->emplace_back(first, last);
    }
  }
  return out;
}

StagedFolder::StagedFolder(fs::path out, std::string marker) : out_(std::move(out)), marker_(std::move(marker)) {
  KILN_CHECK(!out_.empty(), "no output folder given");
  if (out_.filename().empty()) out_ = out_.parent_path();  // "data/speech/"
  std::error_code error;
  if (fs::exists(out_)) {
    KILN_CHECK(fs::is_directory(out_) && (fs::is_empty(out_) || fs::exists(out_ / marker_)),
               "{}: exists and is not a set made by this command; remove it or choose another folder", out_.string());
  }
  const fs::path parent = out_.has_parent_path() ? out_.parent_path() : fs::path(".");
  fs::create_directories(parent, error);
  KILN_CHECK(!error, "{}: cannot create: {}", parent.string(), error.message());
  staging_ = parent / fmt::format(".{}.tmp-{}", out_.filename().string(), ::getpid());
  fs::remove_all(staging_, error);
  fs::create_directories(staging_, error);
  KILN_CHECK(!error, "{}: cannot create: {}", staging_.string(), error.message());
}

StagedFolder::~StagedFolder() {
  if (committed_) return;
  std::error_code ignored;
  fs::remove_all(staging_, ignored);
}

void StagedFolder::commit() {
  std::error_code error;
  fs::path old;
  if (fs::exists(out_)) {
    old = out_;
    old += fmt::format(".old-{}", ::getpid());
    fs::rename(out_, old, error);
    KILN_CHECK(!error, "{}: cannot move the previous set aside: {}", out_.string(), error.message());
  }
  fs::rename(staging_, out_, error);
  if (error && !old.empty()) {
    std::error_code ignored;
    fs::rename(old, out_, ignored);
  }
  KILN_CHECK(!error, "{}: cannot move into place: {}", out_.string(), error.message());
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, error);
}

std::vector<TsvRow> read_tsv(const fs::path& path, const std::string& header) {
  KILN_CHECK(fs::is_regular_file(path), "{}: no such file", path.string());
  std::ifstream in(path);
  KILN_CHECK(in.good(), "{}: cannot open", path.string());
  const size_t columns = static_cast<size_t>(std::count(header.begin(), header.end(), '\t')) + 1;
  std::string line;
  std::string shown = header;
  std::replace(shown.begin(), shown.end(), '\t', ' ');
  KILN_CHECK(std::getline(in, line) && line == header, "{}:1: the header line must be the tab-separated '{}'",
             path.string(), shown);
  std::vector<TsvRow> rows;
  for (int64_t number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    std::vector<std::string> fields;
    size_t start = 0;
    for (;;) {
      const size_t tab = line.find('\t', start);
      fields.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    KILN_CHECK(fields.size() == columns, "{}:{}: {} tab-separated fields, expected {} ({})", path.string(), number,
               fields.size(), columns, shown);
    rows.push_back({number, std::move(fields)});
  }
  return rows;
}

void write_text(const fs::path& path, const std::string& text) {
  io::AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

}  // namespace kiln::data::speech
