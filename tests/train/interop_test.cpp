// Hugging Face and GGUF files (docs/interop.md):
//  - kiln's logits equal those PyTorch computes, the way transformers defines
//    LlamaForCausalLM / GPT2LMHeadModel, from kiln's exported folder
//    (tests/reference/hf_export.py), and today's export writes exactly the
//    tensors that script read;
//  - export → import gives back identical tensors and identical logits, for
//    interleaved and half-split RoPE, tied and untied heads;
//  - what import refuses is one line naming the tensor or field; a failed
//    export leaves no folder.
// GGUF files: tests/train/gguf_export_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <tuple>

#include <fmt/format.h>

#include <unistd.h>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/base/error.hpp"
#include "kiln/data/subword.hpp"
#include "kiln/models/gpt/config_io.hpp"
#include "kiln/models/gpt/model.hpp"
#include "kiln/train/checkpoint.hpp"
#include "kiln/train/interop.hpp"
#include "support/reference.hpp"
#include "support/error_text.hpp"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;
using kiln::testing::all_close;
using kiln::testing::at;
using kiln::testing::expect_same_tensors;
using kiln::testing::max_abs_diff;
using models::DecoderArch;
using models::GptConfig;
using models::GptModel;



Tensor logits_of(const GptConfig& config, const io::TensorMap& weights, const Tensor& tokens) {
  GptModel model(config, 0);
  model.load_parameters(weights);
  NoGradGuard no_grad;
  models::DecoderBatch batch;
  batch.tokens = tokens;
  return model.logits(batch);
}

class Interop : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_interop_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A run folder with one checkpoint of a random model and the bytes tokenizer.
  fs::path make_run(const std::string& name, const GptConfig& config, uint64_t seed = 7) {
    const fs::path run = dir_ / name;
    data::Tokenizer::bytes().save(dir_ / (name + "-tokenizer"));
    GptModel model(config, seed);
    save_checkpoint(run, 3, config, model.parameters(), {}, nlohmann::json{{"step", 3}}, dir_ / (name + "-tokenizer"));
    return run;
  }

  static GptConfig tiny(DecoderArch arch, bool interleaved, bool tied) {
    GptConfig c;
    c.arch = arch;
    c.vocab_size = 257;
    c.n_layer = 2;
    c.d_model = 32;
    c.n_head = 4;
    c.n_kv_head = arch == DecoderArch::llama ? 2 : 4;
    c.ffn_hidden = arch == DecoderArch::llama ? 48 : 0;
    c.max_seq_len = 16;
    c.norm_eps = arch == DecoderArch::llama ? 1e-6 : 1e-5;
    c.rope_interleaved = interleaved;
    c.tie_embeddings = tied;
    c.init_std = 0.2;  // large weights: a wrong permutation shows in the logits
    c.scaled_residual_init = arch == DecoderArch::gpt2;
    return c;
  }

  static Tensor tokens() {
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < 2 * 12; ++i) ids.push_back((i * 37 + 11) % 257);
    return Tensor::from(ids, {2, 12});
  }

  fs::path dir_;
};

TEST_F(Interop, PermutationIsTheFormulaAndItsInverse) {
  // 2 heads of d = 6: row h·6 + j of the half-split result is row h·6 + 2j (j < 3), else h·6 + 2(j−3) + 1.
  std::vector<float> rows;
  for (int64_t r = 0; r < 12; ++r) rows.insert(rows.end(), {static_cast<float>(r), static_cast<float>(100 + r)});
  const Tensor w = Tensor::from(rows, {12, 2});
  const Tensor half = interleaved_to_half_split(w, 2);
  const std::vector<float> expected_rows = {0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11};
  for (int64_t r = 0; r < 12; ++r) {
    EXPECT_EQ(half.to_vector<float>()[2 * r], expected_rows[r]) << r;
    EXPECT_EQ(half.to_vector<float>()[2 * r + 1], 100 + expected_rows[r]) << r;
  }
  EXPECT_EQ(max_abs_diff(half_split_to_interleaved(half, 2), w), 0.0);
  EXPECT_THROW(interleaved_to_half_split(Tensor::zeros({10, 2}), 2), Error);  // 5 rows per head: no pairs
}

// The proof against PyTorch: golden data from tests/reference/hf_export.py.
TEST_F(Interop, ExportedFolderComputesKilnsLogitsUnderTransformersDefinitions) {
  const io::SafetensorsFile golden = io::load_safetensors(std::string(KILN_TEST_DATA_DIR) + "/reference/hf_export.safetensors");
  for (const std::string arch : {"llama", "gpt2"}) {
    SCOPED_TRACE(arch);
    const GptConfig config =
        models::gpt_config_from_json(nlohmann::json::parse(golden.metadata.at(arch + ".config")), arch + ".config");
    io::TensorMap kiln_weights, hf_weights;
    for (const auto& [key, t] : golden.tensors) {
      if (key.rfind(arch + ".kiln.", 0) == 0) kiln_weights[key.substr(arch.size() + 6)] = t;
      if (key.rfind(arch + ".hf.", 0) == 0) hf_weights[key.substr(arch.size() + 4)] = t;
    }
    const Tensor logits = logits_of(config, kiln_weights, at(golden.tensors, arch + ".tokens"));
    const Tensor& reference = at(golden.tensors, arch + ".logits");
    EXPECT_TRUE(all_close(logits, reference, 0, 1e-5));
    std::printf("%s: max |kiln logits - transformers-definition logits of the export| = %.3g\n", arch.c_str(),
                max_abs_diff(logits, reference));
    // Today's export writes what the script read; import restores kiln's layout exactly.
    expect_same_tensors(hf_tensors_from_kiln(config, kiln_weights), hf_weights);
    const nlohmann::json hf_config = hf_config_json(config, data::Tokenizer::bytes());
    const GptConfig back = gpt_config_from_hf_json(hf_config, "exported config.json");
    EXPECT_EQ(models::gpt_config_json(back), models::gpt_config_json(config));
    expect_same_tensors(kiln_tensors_from_hf(back, hf_weights, "golden"), kiln_weights);
  }
}

TEST_F(Interop, ExportThenImportGivesIdenticalTensorsAndLogits) {
  for (const auto& [arch, interleaved, tied] :
       std::vector<std::tuple<DecoderArch, bool, bool>>{{DecoderArch::llama, true, false},
                                                        {DecoderArch::llama, false, true},
                                                        {DecoderArch::gpt2, true, true},
                                                        {DecoderArch::gpt2, true, false}}) {
    const GptConfig config = tiny(arch, interleaved, tied);
    const std::string name = fmt::format("{}-{}-{}", config.arch_name(), interleaved, tied);
    SCOPED_TRACE(name);
    const fs::path run = make_run(name, config);
    const ExportSummary exported = export_hf(run, dir_ / (name + "-hf"));
    EXPECT_EQ(exported.layout.find("permuted") != std::string::npos, arch == DecoderArch::llama && interleaved);
    for (const char* file : {"config.json", "model.safetensors", "generation_config.json", "tokenizer_config.json"})
      EXPECT_TRUE(fs::exists(dir_ / (name + "-hf") / file)) << file;
    const nlohmann::json hf = nlohmann::json::parse(std::ifstream(dir_ / (name + "-hf") / "config.json"));
    EXPECT_EQ(hf["architectures"][0], arch == DecoderArch::llama ? "LlamaForCausalLM" : "GPT2LMHeadModel");
    const io::TensorMap hf_tensors = io::load_safetensors(dir_ / (name + "-hf") / "model.safetensors").tensors;
    EXPECT_EQ(hf_tensors.count("lm_head.weight"), tied ? 0u : 1u);
    if (arch == DecoderArch::gpt2) {  // Conv1D: [in, out]
      EXPECT_EQ(hf_tensors.at("transformer.h.0.mlp.c_fc.weight").shape(), (Shape{32, 128}));
    }

    const ImportSummary imported = import_hf(dir_ / (name + "-hf"), dir_ / (name + "-imported"));
    const Checkpoint original = load_checkpoint(run, false);
    const Checkpoint back = load_checkpoint(dir_ / (name + "-imported"), true);
    EXPECT_EQ(models::gpt_config_json(back.config), models::gpt_config_json(original.config));
    expect_same_tensors(back.weights, original.weights);
    EXPECT_EQ(max_abs_diff(logits_of(back.config, back.weights, tokens()),
                           logits_of(original.config, original.weights, tokens())),
              0.0);
    EXPECT_EQ(back.trainer_state.value("step", -1), 0);
    EXPECT_TRUE(fs::exists(dir_ / (name + "-imported") / "import.toml"));
    EXPECT_EQ(data::Tokenizer::load(dir_ / (name + "-imported") / "tokenizer").kind(), "bytes");
  }
}

TEST_F(Interop, ForeignHalfSplitLlamaImportsAsHalfSplit) {
  // A folder without kiln's block (as transformers writes it) is taken as rotate_half pairs, unpermuted.
  const GptConfig config = tiny(DecoderArch::llama, true, false);
  const fs::path run = make_run("foreign", config);
  export_hf(run, dir_ / "foreign-hf");
  nlohmann::json hf = nlohmann::json::parse(std::ifstream(dir_ / "foreign-hf" / "config.json"));
  hf.erase("kiln");
  std::ofstream(dir_ / "foreign-hf" / "config.json") << hf.dump(2);
  import_hf(dir_ / "foreign-hf", dir_ / "foreign-run");
  const Checkpoint original = load_checkpoint(run, false);
  const Checkpoint back = load_checkpoint(dir_ / "foreign-run", false);
  EXPECT_FALSE(back.config.rope_interleaved);
  // Different weights (permuted q/k), same function.
  EXPECT_GT(max_abs_diff(back.weights.at("model.layers.0.self_attn.q_proj.weight"),
                         original.weights.at("model.layers.0.self_attn.q_proj.weight")),
            0.0);
  EXPECT_LT(max_abs_diff(logits_of(back.config, back.weights, tokens()),
                         logits_of(original.config, original.weights, tokens())),
            1e-5);
}

using kiln::testing::error_of;

TEST_F(Interop, ImportRefusesWhatItCannotComputeNamingTheTensor) {
  const GptConfig config = tiny(DecoderArch::llama, true, false);
  const fs::path run = make_run("bad", config);
  const fs::path hf = dir_ / "bad-hf";
  export_hf(run, hf);
  const io::TensorMap good = io::load_safetensors(hf / "model.safetensors").tensors;
  const nlohmann::json good_config = nlohmann::json::parse(std::ifstream(hf / "config.json"));
  auto import_with = [&](const io::TensorMap& tensors, const nlohmann::json& json) {
    io::save_safetensors(hf / "model.safetensors", tensors);
    std::ofstream(hf / "config.json") << json.dump(2);
    return error_of([&] { import_hf(hf, dir_ / "bad-run"); });
  };
  io::TensorMap missing = good;
  missing.erase("model.layers.1.mlp.up_proj.weight");
  EXPECT_NE(import_with(missing, good_config).find("missing tensor 'model.layers.1.mlp.up_proj.weight'"),
            std::string::npos);
  io::TensorMap wrong_shape = good;
  wrong_shape["model.layers.0.self_attn.k_proj.weight"] = Tensor::zeros({32, 32});
  const std::string shape_error = import_with(wrong_shape, good_config);
  EXPECT_NE(shape_error.find("'model.layers.0.self_attn.k_proj.weight' is f32[32, 32]"), std::string::npos) << shape_error;
  io::TensorMap wrong_dtype = good;
  wrong_dtype["model.norm.weight"] = Tensor::zeros({32}, DType::i64);
  EXPECT_NE(import_with(wrong_dtype, good_config).find("tensor 'model.norm.weight' is i64"), std::string::npos);
  io::TensorMap extra = good;
  extra["model.layers.0.self_attn.q_proj.bias"] = Tensor::zeros({32});
  EXPECT_NE(import_with(extra, good_config).find("unexpected tensor 'model.layers.0.self_attn.q_proj.bias'"),
            std::string::npos);
  nlohmann::json mistral = good_config;
  mistral["architectures"] = {"MistralForCausalLM"};
  mistral["model_type"] = "mistral";
  EXPECT_NE(import_with(good, mistral).find("architecture 'MistralForCausalLM'"), std::string::npos);
  nlohmann::json scaled = good_config;
  scaled["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  EXPECT_NE(import_with(good, scaled).find("field 'rope_scaling'"), std::string::npos);
  // bf16 weights import (rounded values, exact conversion).
  io::TensorMap bf16 = good;
  for (auto& [name, t] : bf16) t = t.to(DType::bf16);
  EXPECT_EQ(import_with(bf16, good_config), "(no error)");
  EXPECT_FALSE(fs::exists(dir_ / ("bad-run.partial-" + std::to_string(::getpid()))));
  // Each error is one line.
  EXPECT_EQ(import_with(missing, good_config).find('\n'), std::string::npos);
}

TEST_F(Interop, FailedExportLeavesNoFolder) {
  GptConfig config = tiny(DecoderArch::llama, true, false);
  config.moe.n_routed_experts = 4;
  config.moe.first_k_dense = 1;
  const fs::path run = make_run("moe", config);
  const std::string error = error_of([&] { export_hf(run, dir_ / "moe-hf"); });
  EXPECT_NE(error.find("DeepseekV3ForCausalLM always uses MLA"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(dir_ / "moe-hf"));
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find(".partial"), std::string::npos) << entry.path();
}

}  // namespace
}  // namespace kiln::train
