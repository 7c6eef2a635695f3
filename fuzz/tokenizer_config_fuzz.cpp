// tokenizer_config.json of a run's tokenizer folder (byte tokenizers and the
// fields every kind shares), then a sentence encoded and decoded.
#include "fuzz_support.hpp"
#include "kiln/data/subword.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = kiln::fuzz::write_input(data, size, "tokenizer/tokenizer_config.json");
  kiln::fuzz::accept_or_reject([&] {
    const kiln::data::Tokenizer tokenizer = kiln::data::Tokenizer::load(path.parent_path());
    tokenizer.decode(tokenizer.encode("And God said, Let there be light"));
  });
  return 0;
}
