// `kiln navit train|eval`: their options; the runs are in train/navit_runs.
#include <memory>

#include <CLI/CLI.hpp>

#include "kiln/cli/commands.hpp"
#include "kiln/train/navit_runs.hpp"

namespace kiln::cli {

void add_navit_commands(CLI::App& app) {
  auto args = std::make_shared<train::NavitOptions>();
  CLI::App* navit = app.add_subcommand("navit", "NaViT: a native-resolution ViT classifier over packed images of any size");
  navit->require_subcommand(1);
  CLI::App* train_cmd = navit->add_subcommand("train", "Train the packed classifier on Fashion-MNIST canvases of random size");
  train_cmd->add_option("-c,--config", args->config, "TOML file (configs/fmnist-navit.toml)");
  train_cmd->add_option("--set", args->overrides, "Override a field: section.key=value");
  train_cmd->add_flag("--resume", args->resume, "Continue from the run folder's trainer_state (saved after every epoch)");
  train_cmd->callback([args] { train::run_navit_training(*args); });
  CLI::App* eval_cmd = navit->add_subcommand("eval", "Accuracy on the test canvases and at square test sizes");
  eval_cmd->add_option("run", args->run, "Run folder or model folder")->required();
  eval_cmd->add_option("--image-size", args->image_sizes,
                       "Square sizes in px, multiples of patch·merge (default: 16 24 32 48 64 80)");
  eval_cmd->add_option("--data", args->data, "Folder with Fashion-MNIST's IDX files (default: /usr/share/datasets/fashion-mnist)");
  eval_cmd->add_option("--test-images", args->test_images, "Evaluate on the first N test garments only");
  eval_cmd->callback([args] { train::run_navit_evaluation(*args); });
}

}  // namespace kiln::cli
