// ARPA files as `kiln ngram query` and `ngram compile` read them.
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "kiln/models/ngram/arpa.hpp"
#include "kiln/models/ngram/index.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  kiln::fuzz::accept_or_reject([&] {
    const kiln::ngram::BackoffModel model = kiln::ngram::read_arpa(in, "fuzz.arpa");
    const kiln::ngram::NgramIndex index = kiln::ngram::NgramIndex::build(model);
    std::vector<kiln::ngram::WordId> ids;
    for (const char* word : {"<s>", "the", "cat", "</s>", "<unk>"})
      if (const auto id = index.word_id(word)) ids.push_back(*id);
    for (size_t n = 1; n <= ids.size(); ++n) index.find({ids.data(), n});
  });
  return 0;
}
