// Token ids in and out of kiln, as another engine's user needs them.
// `kiln eval RUN --tokens FILE --logprobs OUT.json`: the ids of a verse (kiln tokenizer encode --ids), as whitespace-
// separated ids or a JSON array, give the same JSON; every row is a
// distribution whose entries at the next ids make the printed loss and ppl;
// bad ids are one line with nothing written. (The values themselves:
// tests/train/token_logprobs_test.cpp, and llama.cpp in bench/llamacpp_check.sh.)
// `kiln generate --prompt-ids FILE --ignore-eos`: the same continuation as the
// prompt's text gives, and exactly --max-tokens new tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
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

class TokenIdsCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("kiln_token_ids_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const std::string text = std::string(KILN_TEST_DATA_DIR) + "/text/";
    trained_ = run("train -c " + std::string(KILN_SOURCE_DIR) + "/configs/tiny.toml --set data.train=" + text +
                   "kjv-train2000.txt --set data.valid=" + text + "kjv-test200.txt --set run.dir=" +
                   (dir_ / "run").string() + " --set train.steps=4 --set train.eval_every=4 --set train.checkpoint_every=4");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string model() { return (dir_ / "run").string(); }
  static double number_after(const std::string& output, const std::string& label) {
    const size_t at = output.find(label);
    EXPECT_NE(at, std::string::npos) << output;
    return at == std::string::npos ? NAN : std::stod(output.substr(at + label.size()));
  }
  static inline fs::path dir_;
  static inline Result trained_;
};

TEST_F(TokenIdsCli, BothFormatsWriteEveryDistributionAndTheLoss) {
  ASSERT_EQ(trained_.status, 0) << trained_.output;
  const fs::path verse = dir_ / "verse.txt", ids = dir_ / "ids.txt", json_ids = dir_ / "ids.json";
  std::ofstream(verse) << "and god said , let there be light : and there was light .\n";
  const Result encoded =
      run("tokenizer encode --ids " + model() + "/checkpoints/latest/tokenizer " + verse.string() + " > " + ids.string());
  ASSERT_EQ(encoded.status, 0) << encoded.output;
  std::vector<int> tokens;
  {
    std::ifstream in(ids);
    for (int id; in >> id;) tokens.push_back(id);
  }
  ASSERT_GE(tokens.size(), 5u);
  EXPECT_EQ(tokens.back(), 2);  // each line ends with </s>, as training sees it
  std::ofstream(json_ids) << nlohmann::json(tokens).dump() << "\n";

  const Result by_ids = run("eval " + model() + " --tokens " + ids.string() + " --logprobs " + (dir_ / "a.json").string());
  const Result by_json = run("eval " + model() + " --tokens " + json_ids.string() + " --logprobs " + (dir_ / "b.json").string());
  ASSERT_EQ(by_ids.status, 0) << by_ids.output;
  ASSERT_EQ(by_json.status, 0) << by_json.output;
  EXPECT_NE(by_ids.output.find(std::to_string(tokens.size()) + " tokens, " + std::to_string(tokens.size() - 1) +
                               " predictions scored"),
            std::string::npos)
      << by_ids.output;
  EXPECT_EQ(file_bytes(dir_ / "a.json"), file_bytes(dir_ / "b.json"));

  const auto json = nlohmann::json::parse(file_bytes(dir_ / "a.json"));
  EXPECT_EQ(json["vocab_size"], 512);
  EXPECT_EQ(json["tokens"].get<std::vector<int>>(), tokens);
  ASSERT_EQ(json["logprobs"].size(), tokens.size());
  double nll = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const auto row = json["logprobs"][t].get<std::vector<double>>();
    ASSERT_EQ(row.size(), 512u);
    double mass = 0;
    for (double lp : row) {
      ASSERT_LE(lp, 0.0);
      mass += std::exp(lp);
    }
    EXPECT_NEAR(mass, 1.0, 1e-5) << t;
    if (t + 1 < tokens.size()) nll -= row[tokens[t + 1]];
  }
  const double mean = nll / static_cast<double>(tokens.size() - 1);
  EXPECT_NEAR(json["mean_nll"].get<double>(), mean, 1e-6);
  EXPECT_NEAR(json["ppl"].get<double>(), std::exp(mean), 1e-5 * std::exp(mean));
  EXPECT_NEAR(number_after(by_ids.output, "loss "), mean, 1e-6) << by_ids.output;
}

TEST_F(TokenIdsCli, BadIdsAreOneLineAndWriteNothing) {
  ASSERT_EQ(trained_.status, 0) << trained_.output;
  const fs::path out = dir_ / "never.json";
  for (const auto& [content, says] : std::vector<std::pair<std::string, std::string>>{
           {"5 17 512 3\n", "token 2 is id 512, outside the model's vocabulary [0, 512)"},
           {"5 -1\n", "token 1 is id -1, outside"},
           {"5 seven 3\n", "token 1 is 'seven', not a decimal id"},
           {"5 3.5\n", "token 1 is '3.5', not a decimal id"},
           {"  \n", "no token ids"},
           {"[5, \"x\"]", "token 1 is \"x\", not an integer id"},
           {"[5, 3", "not a JSON array"},
           {"[5, 9999999999]", "token 1 is id 9999999999, outside"}}) {
    SCOPED_TRACE(content);
    const fs::path file = dir_ / "bad.txt";
    std::ofstream(file) << content;
    const Result r = run("eval " + model() + " --tokens " + file.string() + " --logprobs " + out.string());
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_EQ(r.output.rfind("kiln: error: " + file.string() + ": ", 0), 0u) << r.output;
    EXPECT_NE(r.output.find(says), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find('\n'), r.output.size() - 1) << r.output;
    EXPECT_FALSE(fs::exists(out));
  }
  const Result no_tokens = run("eval " + model() + " --text " + std::string(KILN_TEST_DATA_DIR) +
                               "/text/kjv-test200.txt --logprobs " + out.string());
  EXPECT_EQ(no_tokens.status, 1);
  EXPECT_NE(no_tokens.output.find("--logprobs needs --tokens"), std::string::npos) << no_tokens.output;
  const Result neither = run("eval " + model());
  EXPECT_EQ(neither.status, 1);
  EXPECT_NE(neither.output.find("either --text or --tokens"), std::string::npos) << neither.output;
  const Result missing = run("eval " + model() + " --tokens " + (dir_ / "absent.txt").string());
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("--tokens"), std::string::npos) << missing.output;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(TokenIdsCli, GenerateFromIdsAndPastTheEndOfDocument) {
  ASSERT_EQ(trained_.status, 0) << trained_.output;
  const fs::path prompt = dir_ / "prompt.txt", ids = dir_ / "prompt-ids.txt";
  std::ofstream(prompt) << "and god said\n";
  const Result encoded =
      run("tokenizer encode --ids " + model() + "/checkpoints/latest/tokenizer " + prompt.string() + " > " + ids.string());
  ASSERT_EQ(encoded.status, 0) << encoded.output;
  std::string line;
  {
    std::ifstream in(ids);
    std::getline(in, line);
  }
  std::ofstream(ids) << line.substr(0, line.rfind(' ')) << "\n";  // the prompt without its </s>
  const Result by_text = run("generate " + model() + " -p 'and god said' -n 12 -t 0");
  const Result by_ids = run("generate " + model() + " --prompt-ids " + ids.string() + " -n 12 -t 0");
  ASSERT_EQ(by_text.status, 0) << by_text.output;
  EXPECT_EQ(by_ids.output, by_text.output);
  const Result long_run = run("generate " + model() + " --prompt-ids " + ids.string() + " -n 40 -t 0 --ignore-eos --stats");
  ASSERT_EQ(long_run.status, 0) << long_run.output;
  EXPECT_NE(long_run.output.find("40 tokens in "), std::string::npos) << long_run.output;
  EXPECT_NE(long_run.output.find("then 39 decoding steps"), std::string::npos) << long_run.output;
  const Result both = run("generate " + model() + " -p 'and' --prompt-ids " + ids.string());
  EXPECT_EQ(both.status, 1);
  EXPECT_NE(both.output.find("either --prompt or --prompt-ids"), std::string::npos) << both.output;
}

}  // namespace
