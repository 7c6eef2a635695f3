// `kiln train`, `kiln eval`, `kiln generate` and `kiln tokenizer` as a user
// runs them: a short training run on KJV text must learn, and every bad input
// must end in one clear line and a non-zero exit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>

#include <unistd.h>

#include "support/cli.hpp"

namespace {

namespace fs = std::filesystem;

using Result = kiln::testing::CommandResult;

Result run(const std::string& args) { return kiln::testing::run_kiln(args); }

class LmCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("kiln_lm_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string data_args() {
    const std::string text = std::string(KILN_TEST_DATA_DIR) + "/text/";
    return "--set data.train=" + text + "kjv-train2000.txt --set data.valid=" + text + "kjv-test200.txt";
  }
  static std::string train_args(const std::string& run_name, const std::string& extra = "") {
    return "train -c " + std::string(KILN_SOURCE_DIR) + "/configs/tiny.toml " + data_args() + " --set run.dir=" +
           (dir_ / run_name).string() + " " + extra;
  }
  static inline fs::path dir_;
};

TEST_F(LmCli, ShortTrainingRunLearnsKjv) {
  const Result r = run(train_args("learn", "--set train.steps=120"));
  ASSERT_EQ(r.status, 0) << r.output;
  // The tiny model starts at ln(512) ≈ 6.24 nats; a unigram model of this text is ≈ 5.5.
  const size_t at = r.output.find("validation loss ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const double loss = std::stod(r.output.substr(at + 16));
  EXPECT_LT(loss, 5.0) << r.output;

  const Result eval = run("eval " + (dir_ / "learn").string() + " --text " + std::string(KILN_TEST_DATA_DIR) +
                          "/text/kjv-test200.txt");
  EXPECT_EQ(eval.status, 0) << eval.output;
  EXPECT_NE(eval.output.find("perplexity"), std::string::npos) << eval.output;

  const Result gen = run("generate " + (dir_ / "learn").string() + " -p 'and god said' -n 12 --seed 1 --stats");
  EXPECT_EQ(gen.status, 0) << gen.output;
  EXPECT_EQ(gen.output.rfind("and god said", 0), 0u) << gen.output;

  // Sizes in a checkpoint's config.json that no machine could hold are one line each, before any
  // allocation (num_hidden_layers 2^31 built layers for over 20 s; intermediate_size 2^31 ended in bad_alloc).
  const fs::path config = dir_ / "learn" / "checkpoints" / "latest" / "config.json";
  std::string good;
  {
    std::ifstream in(config);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (const auto& [key, value, says] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"num_hidden_layers", "2147483648", "field 'num_hidden_layers' must be in [1, 4096]"},
           {"intermediate_size", "2147483648", "field 'intermediate_size' must be in [1, 1048576]"},
           {"hidden_size", "9007199254740992", "field 'hidden_size' must be in [1, 65536]"},
           {"vocab_size", "\"512\"", "field 'vocab_size' must be an integer"}}) {
    const size_t at = good.find("\"" + key + "\": ");
    ASSERT_NE(at, std::string::npos) << key;
    const size_t from = at + key.size() + 4, to = good.find_first_of(",\n", from);
    std::ofstream(config) << std::string(good).replace(from, to - from, value);
    const Result bad = run("eval " + (dir_ / "learn").string() + " --text " + std::string(KILN_TEST_DATA_DIR) +
                           "/text/kjv-test200.txt");
    EXPECT_NE(bad.status, 0) << key;
    EXPECT_EQ(bad.output.find("internal error"), std::string::npos) << key << ": " << bad.output;
    EXPECT_NE(bad.output.find(says), std::string::npos) << key << ": " << bad.output;
  }
  std::ofstream(config) << good;
}

TEST_F(LmCli, TrainsFromPreparedShards) {
  const std::string text = std::string(KILN_TEST_DATA_DIR) + "/text/kjv-train2000.txt";
  const fs::path tok = dir_ / "tok", shards = dir_ / "shards";
  ASSERT_EQ(run("tokenizer train --type bpe --vocab-size 400 --input " + text + " -o " + tok.string()).status, 0);
  const Result prep = run("data prepare --tokenizer " + tok.string() + " --input " + text + " -o " + shards.string() +
                          " --valid-fraction 0.1");
  ASSERT_EQ(prep.status, 0) << prep.output;
  const Result r = run("train -c " + std::string(KILN_SOURCE_DIR) + "/configs/tiny.toml --set data.train=" +
                       (shards / "train.bin").string() + " --set data.valid=" + (shards / "valid.bin").string() +
                       " --set tokenizer.dir=" + tok.string() + " --set run.dir=" + (dir_ / "sharded").string() +
                       " --set train.steps=20");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("validation loss"), std::string::npos) << r.output;

  // A tokenizer_config.json whose vocab_size is not a number: one line naming the file, no internal error.
  std::ofstream(tok / "tokenizer_config.json") << R"({"kind": "sentencepiece-bpe", "vocab_size": "400", "eos_id": 2})";
  const Result bad = run("tokenizer encode " + tok.string() + " " + text);
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("field 'vocab_size' must be an integer"), std::string::npos) << bad.output;
  EXPECT_EQ(bad.output.find("internal error"), std::string::npos) << bad.output;
}

TEST_F(LmCli, BadInputsAreOneLineErrors) {
  auto expect_error = [](const Result& r, const std::string& needle) {
    EXPECT_NE(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("kiln: error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
  };
  expect_error(run(train_args("missing", "--set data.train=/nonexistent/corpus.txt")), "/nonexistent/corpus.txt");
  const fs::path empty = dir_ / "empty.txt";
  std::ofstream(empty).close();
  expect_error(run(train_args("empty", "--set data.train=" + empty.string())), "empty");
  expect_error(run(train_args("unknown", "--set model.n_layr=3")), "unknown key 'model.n_layr'");
  expect_error(run(train_args("range", "--set model.n_layer=0")), "model.n_layer");
  expect_error(run(train_args("long", "--set train.context=100 --set model.max_seq_len=64")), "max_seq_len");
  // Paths that are no files, and a batch no machine could hold: one line each, no internal error.
  expect_error(run(train_args("dir", "--set data.train=.")), "data.train: '.' is a directory");
  expect_error(run(train_args("device", "--set data.valid=/dev/zero")), "not a regular file");
  expect_error(run(train_args("name", "--set data.train=" + std::string(5000, 'a'))), "…': File name too long");
  expect_error(run(train_args("batch", "--set train.batch_size=1073741824")), "for the logits and their gradient");
  const Result enum_value = run(train_args("enum", "--set 'model.arch=\"lla\\nma\"'"));
  expect_error(enum_value, "got 'lla\\x0ama'");
  EXPECT_EQ(enum_value.output.find("internal error"), std::string::npos) << enum_value.output;

  // A checkpoint of another architecture cannot be resumed into this run.
  ASSERT_EQ(run(train_args("arch", "--set train.steps=2")).status, 0);
  expect_error(run(train_args("arch", "--set train.steps=4 --set model.n_layer=3 --resume")), "differs");
  // A tokenizer that does not match the checkpoint.
  const fs::path latest = dir_ / "arch" / "checkpoints" / "latest" / "tokenizer";
  ASSERT_EQ(run("tokenizer train --type bytes -o " + latest.string()).status, 0);
  expect_error(run("generate " + (dir_ / "arch").string() + " -p 'and' -n 3"), "tokenizer has 257 tokens");
  expect_error(run("eval " + (dir_ / "nothing").string() + " --text x.txt"), "neither a checkpoint");
}

}  // namespace
