// `kiln export hf`, `kiln export gguf`, `kiln import hf`: model files that
// other tools open (transformers, llama.cpp), and back (docs/interop.md).
#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "kiln/cli/commands.hpp"
#include "kiln/train/gguf_export.hpp"
#include "kiln/train/interop.hpp"

namespace kiln::cli {

namespace fs = std::filesystem;

namespace {

struct ExportArgs {
  std::string run, output, type = "f32";
  train::PixelNormalisation pixels;
};

// <run>/<name>: beside the checkpoints of a run folder, or inside a checkpoint folder given directly.
fs::path default_output(const std::string& run, const std::string& name) { return fs::path(run) / name; }

}  // namespace

void add_interop_commands(CLI::App& app) {
  CLI::App* export_cmd = app.add_subcommand("export", "Write a checkpoint in another tool's format: hf (transformers), gguf (llama.cpp)");
  export_cmd->require_subcommand(1);

  auto hf = std::make_shared<ExportArgs>();
  CLI::App* hf_cmd = export_cmd->add_subcommand(
      "hf", "A Hugging Face folder that from_pretrained loads: LlamaForCausalLM, GPT2LMHeadModel, DeepseekV3ForCausalLM, "
            "BertForMaskedLM / BertForSequenceClassification, ViTForImageClassification, ViTMAEForPreTraining");
  hf_cmd->add_option("run", hf->run, "Run folder (its latest checkpoint or model/) or checkpoint/model folder")->required();
  hf_cmd->add_option("-o,--output", hf->output, "Folder to write (default: <run>/hf)");
  hf_cmd->add_option("--pixel-mean", hf->pixels.mean, "ViT/MAE: the train.pixel_mean the model was trained with")
      ->capture_default_str();
  hf_cmd->add_option("--pixel-std", hf->pixels.std, "ViT/MAE: the train.pixel_std the model was trained with")
      ->capture_default_str();
  hf_cmd->callback([hf] {
    const fs::path out = hf->output.empty() ? default_output(hf->run, "hf") : fs::path(hf->output);
    const train::ExportSummary s = train::export_hf(hf->run, out, hf->pixels);
    fmt::print("{}: {} ({} tensors{}{}) from {}\n", s.output.string(), s.architecture, s.tensors,
               s.layout.empty() ? std::string() : ", " + s.layout,
               s.tokenizer.empty() ? std::string() : ", " + s.tokenizer, s.checkpoint.string());
  });

  auto gguf = std::make_shared<ExportArgs>();
  CLI::App* gguf_cmd = export_cmd->add_subcommand(
      "gguf", "A GGUF v3 file for llama.cpp (`llama` architecture for the LLaMA block, `gpt2` for the GPT-2 block)");
  gguf_cmd->add_option("run", gguf->run, "Run folder (its latest checkpoint) or checkpoint folder")->required();
  gguf_cmd->add_option("-o,--output", gguf->output, "File to write (default: <run>/model-<type>.gguf)");
  gguf_cmd->add_option("--type", gguf->type, "Matrix type: f32, f16, bf16 or q8_0 (norms and biases stay f32)")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0"}))
      ->capture_default_str();
  gguf_cmd->callback([gguf] {
    const fs::path out =
        gguf->output.empty() ? default_output(gguf->run, "model-" + gguf->type + ".gguf") : fs::path(gguf->output);
    const train::GgufSummary s = train::export_gguf(gguf->run, out, gguf->type);
    fmt::print("{}: GGUF v3, {}, {} tensors ({}{}), {} tokenizer, from {}\n", s.output.string(), s.architecture,
               s.tensors, gguf->type,
               s.f16_fallbacks > 0 ? fmt::format("; {} matrices with rows not whole q8_0 blocks as f16", s.f16_fallbacks)
                                   : std::string(),
               s.tokenizer, s.checkpoint.string());
  });

  CLI::App* import_cmd = app.add_subcommand("import", "Make a kiln run from another tool's files: hf (a Hugging Face model folder)");
  import_cmd->require_subcommand(1);
  auto in = std::make_shared<std::pair<std::string, std::string>>();
  CLI::App* import_hf = import_cmd->add_subcommand(
      "hf", "A Hugging Face LlamaForCausalLM / GPT2LMHeadModel / DeepseekV3ForCausalLM (safetensors, SentencePiece "
            "tokenizer), BERT (vocab.txt) or ViTForImageClassification folder as a new run");
  import_hf->add_option("folder", in->first, "Hugging Face model folder")->required();
  import_hf->add_option("-o,--output", in->second, "Run folder to create")->required();
  import_hf->callback([in] {
    const train::ImportSummary s = train::import_hf(in->first, in->second);
    const bool decoder = fs::exists(fs::path(in->second) / "import.toml");
    fmt::print("{}: {} ({} tensors{}){}\n", s.checkpoint.string(), s.architecture, s.tensors,
               s.initialised.empty() ? std::string()
                                     : fmt::format("; {} absent from the folder, initialised as kiln does: {}",
                                                   s.initialised.size(), fmt::join(s.initialised, ", ")),
               decoder ? fmt::format("; continue training with kiln train -c {} --resume",
                                     (fs::path(in->second) / "import.toml").string())
                       : std::string());
  });
}

}  // namespace kiln::cli
