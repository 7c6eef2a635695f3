// WAV files as the speech commands read them (resampled to 16 kHz mono).
#include "fuzz_support.hpp"
#include "kiln/data/wav.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = kiln::fuzz::write_input(data, size, "clip.wav");
  kiln::fuzz::accept_or_reject([&] { kiln::data::read_wav(path); });
  return 0;
}
