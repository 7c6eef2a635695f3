// WordPiece vocab.txt files as BERT runs load them, then a sentence encoded.
#include "fuzz_support.hpp"
#include "kiln/data/wordpiece.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = kiln::fuzz::write_input(data, size, "vocab.txt");
  kiln::fuzz::accept_or_reject([&] {
    const kiln::data::WordPieceTokenizer tokenizer = kiln::data::WordPieceTokenizer::load(path);
    tokenizer.encode("In the beginning God created the heaven and the earth.");
  });
  return 0;
}
