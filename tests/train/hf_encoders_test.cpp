// BERT, ViT and MAE runs as Hugging Face folders (docs/interop.md), against
// tests/reference/hf_encoders.py:
//  - kiln's forward gives what transformers' definitions compute from the
//    exported folder: BERT hidden states and MLM loss, the classifier's
//    logits, ViT logits, MAE predictions, mask and loss for the same noise;
//  - today's export writes exactly the tensors the script read;
//  - export → import gives back identical tensors, configuration and
//    vocabulary (BERT, ViT); a folder transformers wrote without BERT's
//    pooler imports with the pooler initialised and named;
//  - what import cannot keep is one line naming the tensor or field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/base/error.hpp"
#include "kiln/models/bert/bert.hpp"
#include "kiln/models/bert/bert_config_io.hpp"
#include "kiln/models/mae/mae.hpp"
#include "kiln/models/vit/vit.hpp"
#include "kiln/models/vit/vit_config_io.hpp"
#include "kiln/train/hf_encoders.hpp"
#include "kiln/train/interop.hpp"
#include "kiln/train/model_folder.hpp"
#include "support/reference.hpp"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;
using kiln::testing::all_close;
using kiln::testing::at;
using kiln::testing::expect_same_tensors;
using kiln::testing::max_abs_diff;

const io::SafetensorsFile& golden() {
  static const io::SafetensorsFile file =
      io::load_safetensors(std::string(KILN_TEST_DATA_DIR) + "/reference/hf_encoders.safetensors");
  return file;
}

io::TensorMap weights_of(const std::string& model, const std::string& kind) {
  io::TensorMap out;
  const std::string prefix = model + "." + kind + ".";
  for (const auto& [key, t] : golden().tensors)
    if (key.rfind(prefix, 0) == 0) out[key.substr(prefix.size())] = t;
  return out;
}

nlohmann::json config_of(const std::string& model) { return nlohmann::json::parse(golden().metadata.at(model + ".config")); }


std::string text_of(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class HfEncoders : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_hf_encoders_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A kiln run folder (run/model) holding the golden kiln weights.
  fs::path make_run(const std::string& model) {
    const fs::path run = dir_ / model;
    const std::vector<std::string> vocab = nlohmann::json::parse(golden().metadata.at("bert.vocab"));
    save_model_folder(run / "model", config_of(model), weights_of(model, "kiln"), [&](const fs::path& staging) {
      if (model.rfind("bert", 0) != 0) return;
      std::ofstream out(staging / "vocab.txt");
      for (const std::string& token : vocab) out << token << "\n";
    });
    return run;
  }
  fs::path dir_;
};

models::BertBatch bert_batch() {
  models::BertBatch batch;
  batch.tokens = at(golden().tensors, "bert.tokens");
  batch.segments = at(golden().tensors, "bert.types");
  batch.attention = at(golden().tensors, "bert.attention");
  return batch;
}

TEST_F(HfEncoders, BertComputesWhatTransformersComputesFromTheExport) {
  NoGradGuard no_grad;
  models::BertModel mlm(models::bert_config_from_json(config_of("bert"), "bert"), 0);
  mlm.load_parameters(weights_of("bert", "kiln"));
  const models::BertBatch batch = bert_batch();
  const Tensor hidden = mlm.encode(batch, false);
  const Tensor& expected = at(golden().tensors, "bert.hidden");
  // Padded positions attend to the real ones in both, but are no output anyone reads: compare real tokens.
  const std::vector<uint8_t> real = batch.attention.to_vector<uint8_t>();
  const int64_t width = hidden.size(2);
  const std::vector<float> got = hidden.contiguous().to_vector<float>(), want = expected.to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (real[i / static_cast<size_t>(width)]) worst = std::max(worst, static_cast<double>(std::abs(got[i] - want[i])));
  EXPECT_LT(worst, 1e-5);
  const double loss = mlm.mlm_loss(batch, at(golden().tensors, "bert.labels"), false).item();
  EXPECT_NEAR(loss, at(golden().tensors, "bert.mlm_loss").item(), 1e-5);

  models::BertModel classifier(models::bert_config_from_json(config_of("bert_cls"), "bert_cls"), 0);
  classifier.load_parameters(weights_of("bert_cls", "kiln"));
  const Tensor logits = classifier.classify(batch, false);
  EXPECT_TRUE(all_close(logits, at(golden().tensors, "bert_cls.logits"), 0, 1e-5));
  std::printf("BERT: max |hidden - transformers-definition| = %.3g, |MLM loss diff| = %.3g\n", worst,
              std::abs(loss - at(golden().tensors, "bert.mlm_loss").item()));
}

TEST_F(HfEncoders, VitAndMaeComputeWhatTransformersComputesFromTheExport) {
  NoGradGuard no_grad;
  const Tensor& images = at(golden().tensors, "images");
  models::VitModel vit(models::vit_config_from_json(config_of("vit"), "vit"), 0);
  vit.load_parameters(weights_of("vit", "kiln"));
  EXPECT_TRUE(all_close(vit.logits(images), at(golden().tensors, "vit.logits"), 0, 1e-5));

  models::MaeModel mae(models::mae_config_from_json(config_of("mae"), "mae"), 0);
  mae.load_parameters(weights_of("mae", "kiln"));
  const Tensor& noise = at(golden().tensors, "mae.noise");
  const models::PatchMask mask = models::mask_from_noise(noise.to_vector<float>(), noise.size(0), noise.size(1),
                                                         mae.config().mask_ratio);
  EXPECT_EQ(mask.mask.to_vector<float>(), at(golden().tensors, "mae.mask").to_vector<float>());
  const models::MaeOutput out = mae.forward(images, mask);
  EXPECT_TRUE(all_close(out.pred, at(golden().tensors, "mae.pred"), 0, 1e-5));
  EXPECT_NEAR(out.loss.item(), at(golden().tensors, "mae.loss").item(), 1e-5);
}

TEST_F(HfEncoders, ExportWritesTheTensorsTheReferenceReadAndImportGivesThemBack) {
  for (const std::string model : {"bert", "bert_cls", "vit", "mae"}) {
    SCOPED_TRACE(model);
    const fs::path run = make_run(model);
    ASSERT_TRUE(encoder_model_folder(run).has_value());
    const ExportSummary exported = export_hf(run, dir_ / (model + "-hf"));
    EXPECT_EQ(exported.architecture, config_of(model)["architectures"][0].get<std::string>());
    expect_same_tensors(io::load_safetensors(dir_ / (model + "-hf") / "model.safetensors").tensors,
                        weights_of(model, "hf"));
    if (model == "mae") {
      try {
        import_hf(dir_ / "mae-hf", dir_ / "mae-back");
        ADD_FAILURE() << "imported an MAE folder";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("ViTMAEForPreTraining is exported by kiln, not imported"),
                  std::string::npos)
            << e.what();
      }
      continue;
    }
    const ImportSummary imported = import_hf(dir_ / (model + "-hf"), dir_ / (model + "-back"));
    EXPECT_TRUE(imported.initialised.empty());
    const ModelFolder back = load_model_folder(dir_ / (model + "-back"), "imported");
    expect_same_tensors(back.weights, weights_of(model, "kiln"));
    const ModelFolder original = load_model_folder(run, "original");
    if (model == "vit") {
      EXPECT_EQ(models::vit_config_json(models::vit_config_from_json(back.config, "back")),
                models::vit_config_json(models::vit_config_from_json(original.config, "original")));
    } else {
      EXPECT_EQ(models::bert_config_json(models::bert_config_from_json(back.config, "back")),
                models::bert_config_json(models::bert_config_from_json(original.config, "original")));
      EXPECT_EQ(text_of(back.dir / "vocab.txt"), text_of(original.dir / "vocab.txt"));
      EXPECT_EQ(back.config.value("kiln", nlohmann::json()), original.config.value("kiln", nlohmann::json()));
    }
  }
}

TEST_F(HfEncoders, TransformersStyleBertWithoutPoolerGetsItInitialised) {
  const fs::path hf = dir_ / "bert-hf";
  export_hf(make_run("bert"), hf);
  io::TensorMap tensors = io::load_safetensors(hf / "model.safetensors").tensors;
  tensors.erase("bert.pooler.dense.weight");
  tensors.erase("bert.pooler.dense.bias");
  // transformers may also write the tied decoder out; equal copies are accepted.
  tensors["cls.predictions.decoder.weight"] = tensors.at("bert.embeddings.word_embeddings.weight").clone();
  tensors["cls.predictions.decoder.bias"] = tensors.at("cls.predictions.bias").clone();
  io::save_safetensors(hf / "model.safetensors", tensors);
  const ImportSummary imported = import_hf(hf, dir_ / "back");
  EXPECT_EQ(imported.initialised, (std::vector<std::string>{"bert.pooler.dense.bias", "bert.pooler.dense.weight"}));

  tensors["cls.predictions.decoder.bias"] = Tensor::zeros(tensors.at("cls.predictions.bias").shape());
  io::save_safetensors(hf / "model.safetensors", tensors);
  try {
    import_hf(hf, dir_ / "untied");
    ADD_FAILURE() << "imported an untied decoder bias";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'cls.predictions.decoder.bias' differs from 'cls.predictions.bias'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "untied"));
}

TEST_F(HfEncoders, ImportRefusesWhatKilnCannotComputeInOneLine) {
  const fs::path vit_hf = dir_ / "vit-hf";
  export_hf(make_run("vit"), vit_hf);
  const nlohmann::json good = nlohmann::json::parse(text_of(vit_hf / "config.json"));
  auto error_with = [&](const std::string& key, const nlohmann::json& value) -> std::string {
    nlohmann::json bad = good;
    bad[key] = value;
    std::ofstream(vit_hf / "config.json") << bad.dump(2);
    try {
      import_hf(vit_hf, dir_ / "refused");
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(error_with("hidden_act", "relu").find("field 'hidden_act' is 'relu'"), std::string::npos);
  EXPECT_NE(error_with("qkv_bias", false).find("field 'qkv_bias' is false"), std::string::npos);
  EXPECT_NE(error_with("image_size", {8, 16}).find("field 'image_size' must be one integer"), std::string::npos);
  EXPECT_NE(error_with("architectures", {"ViTModel"}).find("architecture 'ViTModel'"), std::string::npos);
  EXPECT_NE(error_with("patch_size", 2).find("tensor 'vit.embeddings."), std::string::npos);
  for (const std::string& error : {error_with("hidden_act", "relu"), error_with("patch_size", 2)})
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(dir_ / "refused"));
}

}  // namespace
}  // namespace kiln::train
