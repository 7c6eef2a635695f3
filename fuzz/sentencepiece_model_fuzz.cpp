// A SentencePiece `tokenizer.model` as `kiln import hf` loads it (the bytes go
// to SentencePiece's own protobuf parser through kiln's loader), then a
// sentence encoded and decoded with it.
#include "fuzz_support.hpp"
#include "kiln/data/subword.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = kiln::fuzz::write_input(data, size, "tokenizer.model");
  kiln::fuzz::accept_or_reject([&] {
    const auto tokenizer = kiln::data::Tokenizer::from_sentencepiece_file(path, "sentencepiece-bpe");
    tokenizer.decode(tokenizer.encode("And God said, Let there be light: é!"));
  });
  return 0;
}
