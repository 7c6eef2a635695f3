#pragma once
// Files that other people's tools open (docs/interop.md):
//  - a Hugging Face model folder that transformers' from_pretrained loads as
//    LlamaForCausalLM, GPT2LMHeadModel or DeepseekV3ForCausalLM
//    (train/hf_deepseek_v3.hpp): config.json with their fields,
//    model.safetensors in their layout (LLaMA q/k rows permuted from kiln's
//    interleaved RoPE pairs to rotate_half's half-split pairs; GPT-2 weights
//    transposed to Conv1D's [in, out]), generation_config.json and the
//    SentencePiece tokenizer files;
//  - the reverse, a Hugging Face LLaMA, GPT-2 or DeepSeek-V3 folder as a kiln run whose
//    training continues with --resume.
// GGUF files for llama.cpp: train/gguf_export.hpp.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/data/subword.hpp"
#include "kiln/io/safetensors.hpp"
#include "kiln/models/gpt/config.hpp"

namespace kiln::train {

// kiln's interleaved pairs (2i, 2i+1) of every head → half-split pairs (i, i + d/2):
// row h·d + j of the result is row h·d + 2j (j < d/2) or h·d + 2(j − d/2) + 1 of `w` ([heads·d, in]).
Tensor interleaved_to_half_split(const Tensor& w, int64_t heads);
// The inverse (llama.cpp's permute of q_proj/k_proj in convert_hf_to_gguf.py).
Tensor half_split_to_interleaved(const Tensor& w, int64_t heads);

// A checkpoint folder's tokenizer/, or nothing for old checkpoints without one
// (their ids are the bytes tokenizer's).
std::optional<data::Tokenizer> checkpoint_tokenizer(const std::filesystem::path& checkpoint);

// Errors unless `config` is the plain LLaMA or GPT-2 block (no MLA, MoE or MTP).
void check_hf_exportable(const models::GptConfig& config);
// config.json of LlamaForCausalLM / GPT2LMHeadModel, plus a "kiln" block that
// lets `import hf` restore the exact kiln configuration.
nlohmann::json hf_config_json(const models::GptConfig& config, const data::Tokenizer& tokenizer);
// kiln's parameters (kiln names and layout) → transformers' state dict.
io::TensorMap hf_tensors_from_kiln(const models::GptConfig& config, const io::TensorMap& weights);

// The kiln configuration of a Hugging Face config.json (LlamaForCausalLM or
// GPT2LMHeadModel); anything kiln cannot compute exactly is an error naming the field.
models::GptConfig gpt_config_from_hf_json(const nlohmann::json& json, const std::string& source);
// transformers' state dict → kiln's parameters; a missing, unexpected or
// mis-shaped tensor, or one that is not f32/bf16/f64, is an error naming it.
io::TensorMap kiln_tensors_from_hf(const models::GptConfig& config, const io::TensorMap& hf, const std::string& source);

// `run` is a run folder (its latest checkpoint) or a checkpoint folder. The
// output folder is written staged: complete or not at all.
struct ExportSummary {
  std::filesystem::path checkpoint, output;
  std::string architecture;
  int64_t tensors = 0;
  std::string layout;  // what was rearranged for the target layout, empty when nothing
  std::string tokenizer;  // the tokenizer files written ("SentencePiece tokenizer.model"), or why none
};
// How pixels become image-model inputs, for preprocessor_config.json:
// (pixel / 255 − mean) / std, every channel alike.
struct PixelNormalisation {
  double mean = 0.2860, std = 0.3530;  // kiln's training defaults (Fashion-MNIST)
};
// Decoder runs, and BERT / ViT / MAE runs (train/hf_encoders.hpp).
ExportSummary export_hf(const std::filesystem::path& run, const std::filesystem::path& output,
                        const PixelNormalisation& pixels = {});

// A Hugging Face folder → <run>/checkpoints/step-0000000 (weights, zero AdamW
// moments at step 0, the tokenizer) and <run>/import.toml with the [model]
// table that resumes it. `run` must not exist yet.
struct ImportSummary {
  std::filesystem::path checkpoint;
  std::string architecture;
  int64_t tensors = 0;
  std::vector<std::string> initialised;  // parameters the folder lacks, initialised as kiln does (BERT's pooler)
};
// Decoders (LLaMA, GPT-2, DeepSeek-V3), BERT and ViT folders.
ImportSummary import_hf(const std::filesystem::path& folder, const std::filesystem::path& run);

}  // namespace kiln::train
