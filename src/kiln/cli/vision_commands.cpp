// `kiln vit train|eval` and `kiln mae train|show|probe|finetune`: their
// options; the runs are in train/vision_runs.
#include <memory>

#include <CLI/CLI.hpp>

#include "kiln/cli/commands.hpp"
#include "kiln/train/vision_runs.hpp"

namespace kiln::cli {

void add_vision_commands(CLI::App& app) {
  auto args = std::make_shared<train::VisionOptions>();
  CLI::App* vit = app.add_subcommand("vit", "Vision Transformer: train and evaluate image classifiers");
  vit->require_subcommand(1);
  CLI::App* vit_train_cmd = vit->add_subcommand("train", "Train a ViT classifier (default: Fashion-MNIST)");
  vit_train_cmd->add_option("-c,--config", args->config, "TOML file (configs/fmnist-vit.toml)");
  vit_train_cmd->add_option("--set", args->overrides, "Override a field: section.key=value");
  vit_train_cmd->add_flag("--resume", args->resume, "Continue from the run folder's trainer_state (saved after every epoch)");
  vit_train_cmd->callback([args] { train::run_vit_training(*args); });
  CLI::App* vit_eval_cmd = vit->add_subcommand("eval", "Accuracy and confusion matrix (PNG) of a trained ViT");
  vit_eval_cmd->add_option("run", args->run, "Run folder or model folder")->required();
  vit_eval_cmd->add_option("--data", args->data, "IDX prefix or image folder (default: Fashion-MNIST test set)");
  vit_eval_cmd->add_option("--image-size", args->image_size,
                           "Evaluate at N×N px: test images resampled (stb_image_resize, triangle filter), learned "
                           "positions resized bicubically");
  vit_eval_cmd->add_option("--test-images", args->test_images, "Evaluate on the first N test images only");
  auto tome_r = std::make_shared<int64_t>(0);
  CLI::Option* tome_option =
      vit_eval_cmd->add_option("--tome-r", *tome_r, "ToMe: tokens each block merges away (default: as trained)");
  vit_eval_cmd->callback([args, tome_r, tome_option] {
    if (tome_option->count() > 0) args->tome_r = *tome_r;
    train::run_vit_evaluation(*args);
  });
  CLI::App* sweep = vit->add_subcommand("tome-sweep", "ToMe off the shelf: tokens, FLOPs, images/s and accuracy per r");
  sweep->add_option("run", args->run, "Run folder or model folder")->required();
  sweep->add_option("--r", args->tome_sweep, "Values of r, comma-separated")->delimiter(',')->capture_default_str();
  sweep->add_option("--batch", args->batch, "Images per timed forward pass")->capture_default_str();
  sweep->add_option("--passes", args->passes, "Timed passes per r (after two warm-up passes)")->capture_default_str();
  sweep->add_option("--data", args->data, "IDX prefix or image folder (default: Fashion-MNIST test set)");
  sweep->callback([args] { train::run_vit_tome_sweep(*args); });

  CLI::App* mae = app.add_subcommand("mae", "Masked autoencoders: pre-train, show reconstructions, probe, fine-tune");
  mae->require_subcommand(1);
  CLI::App* mae_train_cmd = mae->add_subcommand("train", "Pre-train an MAE (default: Fashion-MNIST)");
  mae_train_cmd->add_option("-c,--config", args->config, "TOML file (configs/fmnist-mae.toml)");
  mae_train_cmd->add_option("--set", args->overrides, "Override a field: section.key=value");
  mae_train_cmd->add_flag("--resume", args->resume, "Continue from the run folder's trainer_state (saved after every epoch)");
  mae_train_cmd->callback([args] { train::run_mae_pretraining(*args); });
  CLI::App* show = mae->add_subcommand("show", "PNG grid: originals, masked inputs, reconstructions");
  show->add_option("run", args->run, "MAE run or model folder")->required();
  show->add_option("-n,--count", args->count, "Images per row")->capture_default_str();
  show->add_option("--data", args->data, "IDX prefix or image folder (default: Fashion-MNIST test set)");
  show->add_option("-o,--output", args->output, "PNG to write (default: <run>/mae-show.png)");
  show->callback([args] { train::run_mae_show(*args); });
  CLI::App* probe = mae->add_subcommand("probe", "Linear probe on the frozen encoder's features");
  probe->add_option("run", args->run, "MAE run or model folder")->required();
  probe->add_option("--epochs", args->epochs, "Epochs of the linear classifier")->capture_default_str();
  probe->add_option("--data", args->data, "Test set (default: Fashion-MNIST test set)");
  probe->callback([args] { train::run_mae_probe(*args); });
  CLI::App* finetune = mae->add_subcommand("finetune", "Fine-tune a ViT classifier from the MAE encoder");
  finetune->add_option("run", args->run, "MAE run or model folder")->required();
  finetune->add_option("-c,--config", args->config, "TOML file for the fine-tuning run (configs/fmnist-vit.toml)");
  finetune->add_option("--set", args->overrides, "Override a field: section.key=value");
  finetune->add_flag("--resume", args->resume, "Continue from the run folder's trainer_state (saved after every epoch)");
  finetune->callback([args] { train::run_mae_finetuning(*args); });
}

}  // namespace kiln::cli
