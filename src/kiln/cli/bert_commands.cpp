// `kiln finetune`: the options of BERT fine-tuning (pre-training is `kiln
// train` with model.arch = "bert").
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "kiln/cli/commands.hpp"
#include "kiln/io/config_file.hpp"
#include "kiln/train/bert_runs.hpp"

namespace kiln::cli {

namespace {

struct FinetuneArgs {
  std::string config, from;
  std::vector<std::string> overrides;
  bool resume = false;
};

}  // namespace

void add_bert_commands(CLI::App& app) {
  auto args = std::make_shared<FinetuneArgs>();
  CLI::App* cmd = app.add_subcommand(
      "finetune", "Train a BERT sequence classifier on [CLS] (e.g. which book a KJV verse is from)");
  cmd->add_option("-c,--config", args->config, "TOML file (configs/kjv-books.toml)");
  cmd->add_option("--from", args->from, "Pre-trained BERT run (kiln train with model.arch = \"bert\"); none = from scratch");
  cmd->add_option("--set", args->overrides, "Override a field: section.key=value");
  cmd->add_flag("--resume", args->resume, "Continue from the run folder's trainer_state (saved after every epoch)");
  cmd->callback([args] {
    io::ConfigFile file = args->config.empty() ? io::ConfigFile() : io::ConfigFile::load(args->config);
    for (const std::string& o : args->overrides) file.apply_override(o);
    train::run_bert_finetuning(file, args->from, args->resume);
  });
}

}  // namespace kiln::cli
