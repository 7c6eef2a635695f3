#include "kiln/data/wav.hpp"

#include <sndfile.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <fstream>
#include <memory>

#include "kiln/base/error.hpp"
#include "kiln/base/shared_library.hpp"
#include "kiln/io/atomic_file.hpp"

namespace kiln::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSndfileSoname = "libsndfile.so.1";

// libsndfile's functions, from the library opened at the first WAV file
// (base/shared_library.hpp: linked, it and its eight codec libraries cost
// every kiln command about 1 ms at start).
class SndfileApi {
 public:
  SndfileApi() : library_(kSndfileSoname) {
    const bool found = library_.bind(open, "sf_open") && library_.bind(open_fd, "sf_open_fd") &&
                       library_.bind(close, "sf_close") && library_.bind(strerror, "sf_strerror") &&
                       library_.bind(readf_float, "sf_readf_float") && library_.bind(write_short, "sf_write_short");
    KILN_CHECK(found, "{} is missing or too old to read and write WAV files (apt-get install libsndfile1)",
               kSndfileSoname);
  }

  decltype(&sf_open) open = nullptr;
  decltype(&sf_open_fd) open_fd = nullptr;
  decltype(&sf_close) close = nullptr;
  decltype(&sf_strerror) strerror = nullptr;
  decltype(&sf_readf_float) readf_float = nullptr;
  decltype(&sf_write_short) write_short = nullptr;

 private:
  SharedLibrary library_;
};

const SndfileApi& sndfile() {
  static const SndfileApi api;  // opened once, on first use; immutable after
  return api;
}

struct SndCloser {
  void operator()(SNDFILE* f) const { sndfile().close(f); }
};
using SndFile = std::unique_ptr<SNDFILE, SndCloser>;

uint32_t little_endian(const uint8_t* b) {
  return uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) | (uint32_t{b[3]} << 24);
}

// The first 12 bytes: "RIFF" <size> "WAVE" for a RIFF WAV file.
std::array<uint8_t, 12> file_head(const fs::path& path, size_t& got) {
  std::array<uint8_t, 12> head{};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  got = static_cast<size_t>(in.gcount());
  return head;
}

bool starts_with(const std::array<uint8_t, 12>& head, size_t offset, const char* tag) {
  return std::equal(tag, tag + 4, head.begin() + static_cast<std::ptrdiff_t>(offset));
}

}  // namespace

std::vector<float> read_wav(const fs::path& path, int sample_rate) {
  const std::string name = path.string();
  KILN_CHECK(fs::exists(path), "{}: no such file", name);
  KILN_CHECK(fs::is_regular_file(path), "{}: not a regular file", name);
  size_t got = 0;
  const std::array<uint8_t, 12> head = file_head(path, got);
  KILN_CHECK(got > 0, "{}: empty file, not a WAV file", name);
  const bool riff = got == head.size() && (starts_with(head, 0, "RIFF") || starts_with(head, 0, "RIFX")) &&
                    starts_with(head, 8, "WAVE");
  KILN_CHECK(riff || (got >= 4 && starts_with(head, 0, "RIFF")), "{}: not a WAV file (no RIFF/WAVE header)", name);
  KILN_CHECK(riff, "{}: truncated WAV file ({} bytes)", name, got);

  SF_INFO info{};
  const SndfileApi& sf = sndfile();
  SndFile file(sf.open(path.c_str(), SFM_READ, &info));
  KILN_CHECK(file != nullptr, "{}: truncated or corrupt WAV file ({})", name, sf.strerror(nullptr));
  const int major = info.format & SF_FORMAT_TYPEMASK;
  KILN_CHECK(major == SF_FORMAT_WAV || major == SF_FORMAT_WAVEX, "{}: not a WAV file", name);
  KILN_CHECK(info.channels == 1, "{}: {} channels; mono audio is expected", name, info.channels);
  KILN_CHECK(info.samplerate == sample_rate, "{}: sample rate {} Hz; {} Hz is expected", name, info.samplerate,
             sample_rate);
  // libsndfile shortens a data chunk that runs past the end of the file
  // without failing: compare the RIFF size with the file's size instead.
  const uint64_t riff_size = little_endian(&head[4]);
  const uint64_t file_size = fs::file_size(path);
  if (riff_size != 0 && riff_size != 0xFFFFFFFFu)
    KILN_CHECK(riff_size + 8 <= file_size, "{}: truncated WAV file: the header promises {} bytes, the file has {}", name,
               riff_size + 8, file_size);
  KILN_CHECK(info.frames > 0, "{}: no samples", name);
  std::vector<float> samples(static_cast<size_t>(info.frames));
  const sf_count_t read = sf.readf_float(file.get(), samples.data(), info.frames);
  KILN_CHECK(read == info.frames, "{}: truncated WAV file: {} of {} samples could be read", name, read, info.frames);
  return samples;
}

void write_wav(const fs::path& path, std::span<const float> samples, int sample_rate) {
  KILN_CHECK(sample_rate > 0, "{}: sample rate must be positive, got {}", path.string(), sample_rate);
  std::vector<int16_t> pcm(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    // Full scale 32768, as libsndfile reads 16-bit PCM back (x / 32768), so a
    // round trip changes a sample by at most half a step.
    const long level = std::lrint(static_cast<double>(std::clamp(samples[i], -1.0f, 1.0f)) * 32768.0);
    pcm[i] = static_cast<int16_t>(std::clamp<long>(level, -32768, 32767));
  }
  const SndfileApi& sf = sndfile();
  io::AtomicFile out(path);
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  {
    SndFile file(sf.open_fd(::fileno(out.handle()), SFM_WRITE, &info, SF_FALSE));
    KILN_CHECK(file != nullptr, "{}: cannot write WAV ({})", path.string(), sf.strerror(nullptr));
    const sf_count_t written = sf.write_short(file.get(), pcm.data(), static_cast<sf_count_t>(pcm.size()));
    KILN_CHECK(written == static_cast<sf_count_t>(pcm.size()), "{}: write failed ({})", path.string(),
               sf.strerror(file.get()));
    KILN_CHECK(sf.close(file.release()) == 0, "{}: write failed", path.string());
  }
  out.commit();
}

}  // namespace kiln::data
