// Each model family's config.json: written and read back to the same
// configuration, and every wrong type, missing field or out-of-range value a
// one-line kiln::Error naming the file and the field (never a JSON library
// exception, which the user would see as an internal error).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/base/error.hpp"
#include "kiln/models/bert/bert_config_io.hpp"
#include "kiln/models/cpc/cpc_config_io.hpp"
#include "kiln/models/gpt/config_io.hpp"
#include "kiln/models/oadtr/detector_config_io.hpp"
#include "kiln/models/vit/vit_config_io.hpp"

namespace kiln::models {
namespace {

// The message of the kiln::Error `read` throws; fails the test on any other exception or none.
std::string error_of(const std::function<void()>& read) {
  try {
    read();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a kiln::Error: " << e.what();
    return "";
  }
  ADD_FAILURE() << "accepted";
  return "";
}

nlohmann::json with(nlohmann::json json, const std::string& key, nlohmann::json value) {
  json[key] = std::move(value);
  return json;
}

TEST(ConfigIo, EveryFamilyRoundTrips) {
  GptConfig gpt;
  gpt.vocab_size = 300;
  gpt.max_seq_len = 64;
  gpt.attention = AttentionKind::mla;
  gpt.moe.n_routed_experts = 4;
  gpt.moe.moe_inter_dim = 32;
  gpt.mtp_depth = 1;
  EXPECT_EQ(gpt_config_json(gpt_config_from_json(gpt_config_json(gpt), "c")), gpt_config_json(gpt));
  BertConfig bert;
  bert.n_classes = 3;
  EXPECT_EQ(bert_config_json(bert_config_from_json(bert_config_json(bert), "c")), bert_config_json(bert));
  const VitConfig vit;
  EXPECT_EQ(vit_config_json(vit_config_from_json(vit_config_json(vit), "c")), vit_config_json(vit));
  MaeConfig mae;
  mae.encoder.sincos_positions = true;
  mae.encoder.n_classes = 0;
  EXPECT_EQ(mae_config_json(mae_config_from_json(mae_config_json(mae), "c")), mae_config_json(mae));
  const CpcConfig cpc;
  EXPECT_EQ(cpc_config_json(cpc_config_from_json(cpc_config_json(cpc, 20480), "c"), 20480), cpc_config_json(cpc, 20480));
  OadtrConfig oadtr;
  oadtr.feature_dim = 40;
  oadtr.classes = 4;
  EXPECT_EQ(oadtr_config_json(oadtr_config_from_json(oadtr_config_json(oadtr), oadtr.window, 4, "c")),
            oadtr_config_json(oadtr));
}

TEST(ConfigIo, WrongTypesAndValuesAreOneLineErrorsNamingTheField) {
  GptConfig small;
  small.vocab_size = 300;
  small.max_seq_len = 64;
  const nlohmann::json gpt = gpt_config_json(small);
  // Found by model_config_json_fuzz: optional fields of the wrong type threw nlohmann's type_error.
  nlohmann::json kiln_block = gpt;
  kiln_block["kiln"]["rope_interleaved"] = "yes";
  EXPECT_NE(error_of([&] { gpt_config_from_json(kiln_block, "run/config.json"); }).find("'rope_interleaved'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { gpt_config_from_json(with(gpt, "hidden_size", "64"), "c"); }).find("'hidden_size'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { gpt_config_from_json(with(gpt, "num_hidden_layers", 1LL << 40), "c"); })
                .find("num_hidden_layers"),
            std::string::npos);
  const nlohmann::json bert = bert_config_json(BertConfig{});
  EXPECT_NE(error_of([&] { bert_config_from_json(with(bert, "model_type", 5), "c"); }).find("'model_type'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { bert_config_from_json(with(bert, "intermediate_size", -1), "c"); }).find("intermediate_size"),
            std::string::npos);
  EXPECT_NE(error_of([&] { bert_config_from_json(with(bert, "layer_norm_eps", nullptr), "c"); }).find("layer_norm_eps"),
            std::string::npos);
  const nlohmann::json vit = vit_config_json(VitConfig{});
  EXPECT_NE(error_of([&] { vit_config_from_json(with(vit, "kiln", 3), "c"); }).find("kiln"), std::string::npos);
  EXPECT_NE(error_of([&] { mae_config_from_json(with(vit, "model_type", nlohmann::json::array()), "c"); })
                .find("'model_type'"),
            std::string::npos);
  const nlohmann::json cpc = cpc_config_json(CpcConfig{}, 20480);
  EXPECT_NE(error_of([&] { cpc_config_from_json(with(cpc, "model_type", 1.5), "c"); }).find("'model_type'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { cpc_config_from_json(with(cpc, "negative_sampling", "\x1b[2J"), "c"); }).find("\\x1b"),
            std::string::npos);
  EXPECT_NE(error_of([&] { oadtr_config_from_json(nlohmann::json::object(), 64, 4, "c"); }).find("missing field"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::models
