// `kiln vlm train|eval|generate`: their options; the runs are in train/vlm_runs.
#include <memory>

#include <CLI/CLI.hpp>

#include "kiln/cli/commands.hpp"
#include "kiln/train/vlm_runs.hpp"

namespace kiln::cli {

void add_vlm_commands(CLI::App& app) {
  auto args = std::make_shared<train::VlmRunOptions>();
  CLI::App* vlm = app.add_subcommand(
      "vlm", "Vision-language model: a native-resolution ViT, a 2×2 merger and a LLaMA decoder with M-RoPE");
  vlm->require_subcommand(1);
  CLI::App* train_cmd = vlm->add_subcommand(
      "train", "Train on packed samples of a generated task (configs/fmnist-vlm.toml, configs/kjv-ocr.toml)");
  train_cmd->add_option("-c,--config", args->config, "TOML file");
  train_cmd->add_option("--set", args->overrides, "Override a field: section.key=value");
  train_cmd->add_flag("--resume", args->resume, "Continue from the run folder's trainer_state");
  train_cmd->callback([args] { train::run_vlm_training(*args); });
  CLI::App* eval_cmd = vlm->add_subcommand(
      "eval", "Greedy answers on the task's test split: per-garment accuracy, or character error rate");
  eval_cmd->add_option("run", args->run, "Run folder or model folder")->required();
  eval_cmd->add_option("-n,--samples", args->samples, "Test samples (default 500)");
  eval_cmd->add_flag("--blind", args->blind, "Zero the image features: what the language prior alone answers");
  eval_cmd->callback([args] { train::run_vlm_evaluation(*args); });
  CLI::App* generate_cmd = vlm->add_subcommand("generate", "Answer about one image file (PNG or JPEG)");
  generate_cmd->add_option("run", args->run, "Run folder or model folder")->required();
  generate_cmd->add_option("--image", args->image, "PNG or JPEG file")->required();
  generate_cmd->add_option("--prompt", args->prompt, "Text after the image (the tasks use none)");
  generate_cmd->add_option("-n,--max-new", args->max_new, "Answer bytes at most")->capture_default_str();
  generate_cmd->callback([args] { train::run_vlm_generation(*args); });
}

}  // namespace kiln::cli
