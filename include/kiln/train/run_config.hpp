#pragma once
// Everything `kiln train` needs, read from a TOML file plus --set overrides.
// Each field is read with its range; unknown keys are errors naming the key.
#include <filesystem>
#include <string>

#include "kiln/data/subword.hpp"
#include "kiln/models/gpt/config.hpp"
#include "kiln/io/config_file.hpp"
#include "kiln/train/lm_batches.hpp"
#include "kiln/train/lm_trainer.hpp"

namespace kiln::train {

struct RunConfig {
  models::GptConfig model;
  TrainOptions train;
  int64_t batch_size = 8;
  int64_t context = 128;
  AttentionLayout layout = AttentionLayout::documents;
  uint64_t seed = 1234;
  int64_t threads = 0;  // 0: all cores
  std::filesystem::path train_text, valid_text;
  std::filesystem::path tokenizer_dir;  // trained there from train_text if missing
  data::SentencePieceOptions tokenizer;
  std::string tokenizer_kind = "bpe";  // bpe | unigram | bytes
  std::filesystem::path run_dir;
};

// Paths in the file are relative to the current directory.
RunConfig read_run_config(io::ConfigFile& file);

}  // namespace kiln::train
