// `kiln export hf`, `kiln import hf` and `kiln export gguf` as a user runs
// them on a trained run with a SentencePiece tokenizer: the folder holds what
// transformers needs, the imported run scores the text exactly as the
// original and trains on with --resume, and mistakes are one line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "support/cli.hpp"
#include "support/run_files.hpp"

namespace {

namespace fs = std::filesystem;
using kiln::testing::file_bytes;

using Result = kiln::testing::CommandResult;

Result run(const std::string& args) { return kiln::testing::run_kiln(args); }

class InteropCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("kiln_interop_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string data_args() {
    const std::string text = std::string(KILN_TEST_DATA_DIR) + "/text/";
    return "--set data.train=" + text + "kjv-train2000.txt --set data.valid=" + text + "kjv-test200.txt";
  }
  static inline fs::path dir_;
};

TEST_F(InteropCli, ExportImportResumeAndGguf) {
  const fs::path original = dir_ / "original";
  const Result trained = run("train -c " + std::string(KILN_SOURCE_DIR) + "/configs/tiny.toml " + data_args() +
                             " --set run.dir=" + original.string() +
                             " --set train.steps=4 --set train.eval_every=4 --set train.checkpoint_every=4");
  ASSERT_EQ(trained.status, 0) << trained.output;

  const Result exported = run("export hf " + original.string() + " -o " + (dir_ / "hf").string());
  ASSERT_EQ(exported.status, 0) << exported.output;
  EXPECT_NE(exported.output.find("LlamaForCausalLM"), std::string::npos) << exported.output;
  EXPECT_NE(exported.output.find("permuted"), std::string::npos) << exported.output;
  for (const char* file : {"config.json", "model.safetensors", "generation_config.json", "tokenizer.model",
                           "tokenizer_config.json", "special_tokens_map.json"})
    EXPECT_TRUE(fs::exists(dir_ / "hf" / file)) << file;
  const auto config = nlohmann::json::parse(file_bytes(dir_ / "hf" / "config.json"));
  EXPECT_EQ(config["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(config["hidden_act"], "silu");
  EXPECT_EQ(config["num_key_value_heads"], 2);
  EXPECT_EQ(config["eos_token_id"], 2);
  const auto tokenizer = nlohmann::json::parse(file_bytes(dir_ / "hf" / "tokenizer_config.json"));
  EXPECT_EQ(tokenizer["tokenizer_class"], "LlamaTokenizer");
  EXPECT_EQ(tokenizer["eos_token"], "</s>");
  EXPECT_EQ(tokenizer["add_bos_token"], false);
  EXPECT_EQ(file_bytes(dir_ / "hf" / "tokenizer.model"), file_bytes(original / "tokenizer" / "tokenizer.model"));

  const fs::path imported = dir_ / "imported";
  const Result back = run("import hf " + (dir_ / "hf").string() + " -o " + imported.string());
  ASSERT_EQ(back.status, 0) << back.output;
  EXPECT_EQ(file_bytes(imported / "checkpoints" / "latest" / "model.safetensors"),
            file_bytes(original / "checkpoints" / "latest" / "model.safetensors"));
  const std::string text = " --text " + std::string(KILN_TEST_DATA_DIR) + "/text/kjv-test200.txt";
  const Result eval_original = run("eval " + original.string() + text);
  const Result eval_imported = run("eval " + imported.string() + text);
  ASSERT_EQ(eval_original.status, 0) << eval_original.output;
  EXPECT_EQ(eval_imported.output, eval_original.output);

  // Training continues from the imported weights.
  const Result resumed = run("train -c " + (imported / "import.toml").string() + " " + data_args() +
                             " --set train.context=64 --set train.steps=2 --set train.eval_every=2 --resume");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;
  EXPECT_TRUE(fs::exists(imported / "checkpoints" / "step-0000002"));

  const Result gguf = run("export gguf " + original.string() + " --type f16 -o " + (dir_ / "tiny.gguf").string());
  ASSERT_EQ(gguf.status, 0) << gguf.output;
  EXPECT_EQ(file_bytes(dir_ / "tiny.gguf").substr(0, 4), "GGUF");

  // Mistakes: one line each, nothing written.
  const Result twice = run("import hf " + (dir_ / "hf").string() + " -o " + imported.string());
  EXPECT_EQ(twice.status, 1);
  EXPECT_NE(twice.output.find("kiln: error: "), std::string::npos) << twice.output;
  EXPECT_NE(twice.output.find("already exists"), std::string::npos) << twice.output;
  auto wrong = config;
  wrong["architectures"] = {"T5ForConditionalGeneration"};
  wrong["model_type"] = "t5";
  std::ofstream(dir_ / "hf" / "config.json") << wrong.dump(2);
  const Result t5 = run("import hf " + (dir_ / "hf").string() + " -o " + (dir_ / "t5").string());
  EXPECT_EQ(t5.status, 1);
  EXPECT_EQ(t5.output.rfind("kiln: error: ", 0), 0u) << t5.output;
  EXPECT_EQ(t5.output.find('\n'), t5.output.size() - 1) << t5.output;
  EXPECT_NE(t5.output.find("T5ForConditionalGeneration"), std::string::npos) << t5.output;
  EXPECT_FALSE(fs::exists(dir_ / "t5"));
  const Result nothing = run("export hf " + (dir_ / "nowhere").string() + " -o " + (dir_ / "out").string());
  EXPECT_EQ(nothing.status, 1);
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

}  // namespace
