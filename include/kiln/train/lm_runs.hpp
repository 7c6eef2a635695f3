#pragma once
// A decoder LM's training run (`kiln train` with model.arch = "llama" or
// "gpt2", the DeepSeek switches included), and the tokenizer training it
// starts with when the run has no tokenizer yet.
#include <cstdint>
#include <filesystem>
#include <string>

#include "kiln/data/subword.hpp"
#include "kiln/io/config_file.hpp"
#include "kiln/train/communicator.hpp"

namespace kiln::train {

// `type`: bpe, unigram (SentencePiece) or bytes; written to `output`.
data::Tokenizer train_tokenizer(const std::string& type, int64_t vocab_size, const std::filesystem::path& input,
                                const std::filesystem::path& output);

// Rank 0 writes the run folder and prints; every rank trains its share.
void run_lm_training(io::ConfigFile& file, bool resume, Communicator& comm);

}  // namespace kiln::train
