#include "kiln/train/text_corpus.hpp"

#include <fstream>

#include "kiln/base/error.hpp"
#include "kiln/base/progress.hpp"

namespace kiln::train {

std::vector<int32_t> encode_documents(const std::filesystem::path& path, const data::Tokenizer& tokenizer,
                                      const std::string& label) {
  std::ifstream in(path);
  KILN_CHECK(in.good(), "{}: cannot open the {} text", path.string(), label);
  const auto bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  ProgressBar bar("tokenize " + label, bytes, "B");
  std::vector<int32_t> tokens;
  std::string line;
  int64_t read = 0, documents = 0;
  while (std::getline(in, line)) {
    read += static_cast<int64_t>(line.size()) + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::vector<int32_t> ids = tokenizer.encode(line);
    tokens.insert(tokens.end(), ids.begin(), ids.end());
    tokens.push_back(tokenizer.eos_id());
    ++documents;
    if (documents % 1024 == 0) bar.update(read);
  }
  KILN_CHECK(documents > 0, "{}: the {} text is empty", path.string(), label);
  bar.finish(fmt::format("{} documents, {} tokens", documents, tokens.size()));
  return tokens;
}

}  // namespace kiln::train
