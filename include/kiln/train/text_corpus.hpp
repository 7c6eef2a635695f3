#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "kiln/data/subword.hpp"

namespace kiln::train {

// Encodes a text file, one document per non-empty line, each followed by the
// tokenizer's end-of-document id. A missing or empty file is an error naming it.
std::vector<int32_t> encode_documents(const std::filesystem::path& path, const data::Tokenizer& tokenizer,
                                      const std::string& label);

}  // namespace kiln::train
