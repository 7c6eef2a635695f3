// DeepSeek-V3 checkpoints (MLA, DeepSeekMoE, MTP) as DeepseekV3ForCausalLM
// folders (docs/interop.md), against tests/reference/hf_deepseek_v3.py:
//  - kiln's forward, main model and MTP module, gives the logits that the
//    release's modeling code computes from the exported folder (1e-5);
//  - today's export writes exactly the tensors the script read, under the
//    release's names (MTP layer with its embed_tokens / shared_head.head copies);
//  - export → import gives back kiln's tensors and configuration exactly;
//  - what import cannot keep is one line naming the tensor or field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/base/error.hpp"
#include "kiln/data/subword.hpp"
#include "kiln/models/gpt/config_io.hpp"
#include "kiln/models/gpt/model.hpp"
#include "kiln/train/checkpoint.hpp"
#include "kiln/train/hf_deepseek_v3.hpp"
#include "kiln/train/interop.hpp"
#include "support/reference.hpp"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;
using kiln::testing::all_close;
using kiln::testing::at;
using kiln::testing::expect_same_tensors;
using kiln::testing::max_abs_diff;
using models::GptConfig;



struct Golden {
  GptConfig config;
  io::TensorMap kiln, hf;
  Tensor tokens, logits, mtp_logits;
};

Golden golden(const std::string& model) {
  static const io::SafetensorsFile file =
      io::load_safetensors(std::string(KILN_TEST_DATA_DIR) + "/reference/hf_deepseek_v3.safetensors");
  Golden g;
  g.config = models::gpt_config_from_json(nlohmann::json::parse(file.metadata.at(model + ".config")), model);
  for (const auto& [key, t] : file.tensors) {
    if (key.rfind(model + ".kiln.", 0) == 0) g.kiln[key.substr(model.size() + 6)] = t;
    if (key.rfind(model + ".hf.", 0) == 0) g.hf[key.substr(model.size() + 4)] = t;
  }
  g.tokens = at(file.tensors, model + ".tokens");
  g.logits = at(file.tensors, model + ".logits");
  g.mtp_logits = at(file.tensors, model + ".mtp_logits");
  return g;
}

class HfDeepseekV3 : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_hf_deepseek_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    data::Tokenizer::bytes().save(dir_ / "tokenizer");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(HfDeepseekV3, ExportedFolderComputesKilnsLogitsUnderTheReleaseDefinition) {
  for (const std::string name : {"interleaved", "half_split"}) {
    SCOPED_TRACE(name);
    const Golden g = golden(name);
    ASSERT_TRUE(is_deepseek_v3(g.config));
    models::GptModel model(g.config, 0);
    model.load_parameters(g.kiln);
    NoGradGuard no_grad;
    models::DecoderBatch batch;
    batch.tokens = g.tokens;
    const Tensor logits = model.logits(batch);
    EXPECT_TRUE(all_close(logits, g.logits, 0, 1e-5));
    // The MTP module at inference: pairs (main hidden h_i, token x_{i+1}) predict x_{i+2}.
    double worst_mtp = 0;
    for (int64_t row = 0; row < g.tokens.size(0); ++row) {
      const Tensor ids = g.tokens.select(0, row).contiguous();
      const int64_t length = ids.size(0);
      models::KvCache cache = model.new_cache(length);
      Tensor hidden;
      model.decode(ids, cache, &hidden);
      models::KvCache mtp_cache = model.new_mtp_cache(length);
      const Tensor mtp = model.mtp_decode(hidden.narrow(0, 0, length - 1).contiguous(),
                                          ids.narrow(0, 1, length - 1).contiguous(), mtp_cache);
      const Tensor expected = g.mtp_logits.select(0, row);
      EXPECT_TRUE(all_close(mtp, expected, 0, 1e-5));
      worst_mtp = std::max(worst_mtp, max_abs_diff(mtp, expected));
    }
    std::printf("%s: max |kiln logits - DeepseekV3-definition logits of the export| = %.3g (main), %.3g (MTP)\n",
                name.c_str(), max_abs_diff(logits, g.logits), worst_mtp);

    // Today's export writes what the script read; import restores kiln's layout exactly.
    expect_same_tensors(hf_tensors_from_kiln(g.config, g.kiln), g.hf);
    const nlohmann::json hf_config = hf_config_json(g.config, data::Tokenizer::bytes());
    const GptConfig back = gpt_config_from_hf_json(hf_config, "exported config.json");
    EXPECT_EQ(models::gpt_config_json(back), models::gpt_config_json(g.config));
    expect_same_tensors(kiln_tensors_from_hf(back, g.hf, "golden"), g.kiln);
  }
}

TEST_F(HfDeepseekV3, ConfigJsonHasDeepseekV3ConfigsFields) {
  const Golden g = golden("interleaved");
  const nlohmann::json c = hf_config_json(g.config, data::Tokenizer::bytes());
  EXPECT_EQ(c["architectures"], nlohmann::json({"DeepseekV3ForCausalLM"}));
  EXPECT_EQ(c["model_type"], "deepseek_v3");
  EXPECT_EQ(c["q_lora_rank"], 16);
  EXPECT_EQ(c["kv_lora_rank"], 16);
  EXPECT_EQ(c["qk_nope_head_dim"], 8);
  EXPECT_EQ(c["qk_rope_head_dim"], 4);
  EXPECT_EQ(c["v_head_dim"], 8);
  EXPECT_EQ(c["num_key_value_heads"], 4);
  EXPECT_EQ(c["n_routed_experts"], 4);
  EXPECT_EQ(c["n_shared_experts"], 1);
  EXPECT_EQ(c["num_experts_per_tok"], 2);
  EXPECT_EQ(c["moe_intermediate_size"], 16);
  EXPECT_EQ(c["intermediate_size"], 48);
  EXPECT_EQ(c["n_group"], 2);
  EXPECT_EQ(c["topk_group"], 1);
  EXPECT_EQ(c["first_k_dense_replace"], 1);
  EXPECT_EQ(c["moe_layer_freq"], 1);
  EXPECT_EQ(c["routed_scaling_factor"], 2.5);
  EXPECT_EQ(c["scoring_func"], "sigmoid");
  EXPECT_EQ(c["topk_method"], "noaux_tc");
  EXPECT_EQ(c["norm_topk_prob"], true);
  EXPECT_EQ(c["num_nextn_predict_layers"], 1);
  EXPECT_EQ(c["rope_interleave"], true);
  EXPECT_TRUE(c["rope_scaling"].is_null());
  EXPECT_EQ(c["hidden_act"], "silu");
  EXPECT_EQ(c["tie_word_embeddings"], false);
  // A dense MLA model: no routed experts, every main layer dense.
  GptConfig dense = g.config;
  dense.moe.n_routed_experts = 0;
  const nlohmann::json d = hf_config_json(dense, data::Tokenizer::bytes());
  EXPECT_TRUE(d["n_routed_experts"].is_null());
  EXPECT_EQ(d["first_k_dense_replace"], 2);
  const GptConfig dense_back = gpt_config_from_hf_json(d, "dense config.json");
  EXPECT_EQ(models::gpt_config_json(dense_back), models::gpt_config_json(dense));
}

TEST_F(HfDeepseekV3, ExportImportRoundTripThroughFolders) {
  const Golden g = golden("half_split");
  save_checkpoint(dir_ / "run", 5, g.config, g.kiln, {}, nlohmann::json{{"step", 5}}, dir_ / "tokenizer");
  const ExportSummary exported = export_hf(dir_ / "run", dir_ / "hf");
  EXPECT_EQ(exported.architecture, "DeepseekV3ForCausalLM");
  EXPECT_EQ(exported.tensors, static_cast<int64_t>(g.hf.size()));
  EXPECT_NE(exported.layout.find("regrouped from half-split to interleaved"), std::string::npos) << exported.layout;
  const io::TensorMap written = io::load_safetensors(dir_ / "hf" / "model.safetensors").tensors;
  expect_same_tensors(written, g.hf);
  EXPECT_TRUE(written.count("model.layers.2.embed_tokens.weight"));
  EXPECT_TRUE(written.count("model.layers.2.shared_head.head.weight"));

  const ImportSummary imported = import_hf(dir_ / "hf", dir_ / "back");
  EXPECT_EQ(imported.architecture, "DeepseekV3ForCausalLM");
  const Checkpoint back = load_checkpoint(dir_ / "back", false);
  EXPECT_EQ(models::gpt_config_json(back.config), models::gpt_config_json(g.config));
  expect_same_tensors(back.weights, g.kiln);
  // import.toml rebuilds the same [model]: its DeepSeek keys are in the table.
  std::ifstream toml(dir_ / "back" / "import.toml");
  const std::string text{std::istreambuf_iterator<char>(toml), std::istreambuf_iterator<char>()};
  EXPECT_LT(text.find("attention = \"mla\""), text.find("[train]")) << text;
  EXPECT_NE(text.find("n_routed_experts = 4"), std::string::npos) << text;
  EXPECT_NE(text.find("mtp_depth = 1"), std::string::npos) << text;
}

TEST_F(HfDeepseekV3, ImportRefusesWhatKilnCannotKeep) {
  const Golden g = golden("interleaved");
  const nlohmann::json config = hf_config_json(g.config, data::Tokenizer::bytes());
  auto error_of = [&](const io::TensorMap& tensors, const nlohmann::json& json) -> std::string {
    try {
      const GptConfig c = gpt_config_from_hf_json(json, "config.json");
      kiln_tensors_from_hf(c, tensors, "folder");
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(error_of(g.hf, config), "(no error)");
  io::TensorMap different_copy = g.hf;
  different_copy["model.layers.2.shared_head.head.weight"] = Tensor::zeros({257, 32});
  EXPECT_NE(error_of(different_copy, config).find("'model.layers.2.shared_head.head.weight' differs from 'lm_head.weight'"),
            std::string::npos);
  io::TensorMap missing = g.hf;
  missing.erase("model.layers.1.mlp.experts.3.down_proj.weight");
  EXPECT_NE(error_of(missing, config).find("missing tensor 'model.layers.1.mlp.experts.3.down_proj.weight'"),
            std::string::npos);
  io::TensorMap wrong_shape = g.hf;
  wrong_shape["model.layers.0.self_attn.kv_b_proj.weight"] = Tensor::zeros({64, 15});
  EXPECT_NE(error_of(wrong_shape, config).find("tensor 'model.layers.0.self_attn.kv_b_proj.weight' is"),
            std::string::npos);
  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"scoring_func", "softmax"},
           {"topk_method", "greedy"},
           {"rope_scaling", {{"type", "yarn"}, {"factor", 40}}},
           {"rope_interleave", false}}) {
    nlohmann::json bad = config;
    bad[key] = value;
    const std::string error = error_of(g.hf, bad);
    EXPECT_NE(error.find("field '" + key + "'"), std::string::npos) << key << ": " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

}  // namespace
}  // namespace kiln::train
