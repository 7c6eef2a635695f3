#pragma once
// BERT's training runs, configured by a TOML file (configs/kjv-bert.toml,
// configs/kjv-books.toml): masked-LM pre-training and sequence-classifier
// fine-tuning. Each writes its run folder (model/, metrics.jsonl,
// trainer_state/) and prints its result.
#include <string>

#include "kiln/io/config_file.hpp"

namespace kiln::train {

void run_bert_pretraining(io::ConfigFile& file, bool resume);
// `from`: a pre-trained run (its encoder and vocabulary); empty: from scratch.
void run_bert_finetuning(io::ConfigFile& file, const std::string& from, bool resume);

}  // namespace kiln::train
