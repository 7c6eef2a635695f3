#include "kiln/data/prepare.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/base/progress.hpp"
#include "kiln/data/shard.hpp"

namespace kiln::data {

namespace fs = std::filesystem;

PrepareReport prepare_shards(const fs::path& input, const Tokenizer& tokenizer, const fs::path& output_dir,
                             const PrepareOptions& options) {
  KILN_CHECK(options.valid_fraction >= 0 && options.valid_fraction < 1, "--valid-fraction must be in [0, 1), got {}",
             options.valid_fraction);
  std::ifstream in(input);
  KILN_CHECK(in.good(), "{}: cannot open", input.string());
  const bool jsonl = input.extension() == ".jsonl" || input.extension() == ".json";
  const auto total = static_cast<int64_t>(fs::file_size(input));
  ProgressBar bar("prepare", total, "B");
  std::vector<int32_t> train, valid;
  std::vector<uint64_t> train_starts{0}, valid_starts{0};
  PrepareReport report;
  std::string line;
  uint64_t line_number = 0;
  int64_t bytes = 0;
  while (std::getline(in, line)) {
    ++line_number;
    bytes += static_cast<int64_t>(line.size()) + 1;
    std::string text;
    if (jsonl) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
      KILN_CHECK(!record.is_discarded() && record.is_object(), "{}:{}: not a JSON object", input.string(), line_number);
      KILN_CHECK(record.contains("text") && record["text"].is_string(), "{}:{}: no \"text\" string field",
                 input.string(), line_number);
      text = record["text"].get<std::string>();
    } else {
      text = std::move(line);
    }
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    const bool to_valid = philox_uniform({options.seed, 0xd0c}, report.documents) < options.valid_fraction;
    auto& tokens = to_valid ? valid : train;
    auto& starts = to_valid ? valid_starts : train_starts;
    const std::vector<int32_t> ids = tokenizer.encode(text);
    tokens.insert(tokens.end(), ids.begin(), ids.end());
    tokens.push_back(tokenizer.eos_id());
    starts.push_back(tokens.size());
    ++report.documents;
    report.valid_documents += to_valid;
    if ((report.documents & 1023) == 0)
      bar.update(bytes, fmt::format("{} documents, {} tokens", report.documents, train.size() + valid.size()));
  }
  KILN_CHECK(report.documents > 0, "{}: no documents (the file is empty)", input.string());
  bar.finish(fmt::format("{} documents, {} tokens", report.documents, train.size() + valid.size()));
  fs::create_directories(output_dir);
  write_shard(output_dir / "train.bin", train, train_starts, tokenizer.vocab_size());
  write_shard(output_dir / "valid.bin", valid, valid_starts, tokenizer.vocab_size());
  report.train_tokens = train.size();
  report.valid_tokens = valid.size();
  return report;
}

}  // namespace kiln::data
