#pragma once
// `kiln data prepare`: tokenise plain text (one document per line) or JSONL
// (one object per line with a "text" field) into train.bin and valid.bin
// shards. Each document ends with the tokenizer's end-of-document id; a
// document goes to the validation shard by a seeded hash of its index.
#include <cstdint>
#include <filesystem>

#include "kiln/data/subword.hpp"

namespace kiln::data {

struct PrepareOptions {
  double valid_fraction = 0.01;
  uint64_t seed = 1234;
};

struct PrepareReport {
  uint64_t documents = 0, train_tokens = 0, valid_tokens = 0, valid_documents = 0;
};

PrepareReport prepare_shards(const std::filesystem::path& input, const Tokenizer& tokenizer,
                             const std::filesystem::path& output_dir, const PrepareOptions& options);

}  // namespace kiln::data
