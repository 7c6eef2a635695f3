// Compiled n-gram models (.kbin) as `kiln ngram query` maps them.
#include <vector>

#include "fuzz_support.hpp"
#include "kiln/models/ngram/index.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = kiln::fuzz::write_input(data, size, "model.kbin");
  // Verified at load (small files), and lazily: each block checked by the lookup that first reads it.
  for (const auto verify : {kiln::ngram::NgramIndex::Verify::automatic, kiln::ngram::NgramIndex::Verify::lazy}) {
    kiln::fuzz::accept_or_reject([&] {
      const kiln::ngram::NgramIndex index = kiln::ngram::NgramIndex::load(path, verify);
      std::vector<kiln::ngram::WordId> ids;
      for (const char* word : {"<s>", "the", "cat", "sat", "</s>", "missing-word"})
        ids.push_back(index.word_id(word).value_or(0));
      for (size_t n = 1; n <= ids.size() && n <= static_cast<size_t>(index.order()); ++n) index.find({ids.data(), n});
      for (size_t id = 0; id < index.vocab_size() && id < 64; ++id) index.word(static_cast<kiln::ngram::WordId>(id));
    });
  }
  return 0;
}
