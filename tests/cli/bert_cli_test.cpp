// BERT through the program: `kiln train` with model.arch = "bert" learns a
// WordPiece vocabulary and pre-trains; `kiln finetune` trains a classifier
// from that run and from scratch; mismatched label files and vocabularies
// without the special tokens are one-line errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/cli.hpp"

namespace {

namespace fs = std::filesystem;

using Result = kiln::testing::CommandResult;

Result run(const std::string& args) { return kiln::testing::run_kiln(args); }

TEST(BertCli, PretrainsThenFinetunesFromTheRunAndFromScratch) {
  const fs::path dir = fs::temp_directory_path() / ("kiln_bert_cli_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string text = std::string(KILN_TEST_DATA_DIR) + "/text/";
  // Labels: whether a verse mentions "lord" (a task the text decides).
  const auto write_labels = [&](const std::string& source, const fs::path& out) {
    std::ifstream in(text + source);
    std::ofstream labels(out);
    std::string line;
    while (std::getline(in, line)) labels << (line.find("lord") != std::string::npos ? "lord" : "other") << "\n";
  };
  write_labels("kjv-train2000.txt", dir / "train.labels");
  write_labels("kjv-test200.txt", dir / "test.labels");
  const std::string model = " --set model.d_model=32 --set model.n_layer=1 --set model.n_head=2 --set model.ffn_dim=64";
  const Result pre = run("train -c " + std::string(KILN_SOURCE_DIR) + "/configs/kjv-bert.toml --set data.train=" + text +
                         "kjv-train2000.txt --set data.valid=" + text + "kjv-test200.txt --set tokenizer.vocab_size=600" +
                         model + " --set train.steps=30 --set train.batch_size=8 --set train.seq_len=32" +
                         " --set train.eval_every=15 --set run.dir=" + (dir / "pre").string());
  ASSERT_EQ(pre.status, 0) << pre.output;
  EXPECT_TRUE(fs::exists(dir / "pre" / "vocab.txt"));
  EXPECT_TRUE(fs::exists(dir / "pre" / "model" / "model.safetensors"));
  const std::string data = " --set data.train=" + text + "kjv-train2000.txt --set data.train_labels=" +
                           (dir / "train.labels").string() + " --set data.test=" + text + "kjv-test200.txt" +
                           " --set data.test_labels=" + (dir / "test.labels").string() + " --set train.epochs=1";
  const Result tuned = run("finetune -c " + std::string(KILN_SOURCE_DIR) + "/configs/kjv-books.toml --from " +
                           (dir / "pre").string() + data + " --set run.dir=" + (dir / "ft").string());
  ASSERT_EQ(tuned.status, 0) << tuned.output;
  EXPECT_NE(tuned.output.find("pre-trained + fine-tuned: test accuracy"), std::string::npos) << tuned.output;
  EXPECT_TRUE(fs::exists(dir / "ft" / "confusion.png"));
  const Result scratch = run("finetune -c " + std::string(KILN_SOURCE_DIR) + "/configs/kjv-books.toml" + data + model +
                             " --set tokenizer.vocab=" + (dir / "pre" / "vocab.txt").string() + " --set run.dir=" +
                             (dir / "scratch").string());
  ASSERT_EQ(scratch.status, 0) << scratch.output;
  EXPECT_NE(scratch.output.find("from scratch: test accuracy"), std::string::npos) << scratch.output;

  // Errors: a label file one line short, a vocabulary without [CLS].
  {
    std::ofstream shorter(dir / "short.labels");
    std::ifstream in(dir / "train.labels");
    std::string line;
    for (int i = 0; i < 1999 && std::getline(in, line); ++i) shorter << line << "\n";
  }
  const Result mismatch = run("finetune -c " + std::string(KILN_SOURCE_DIR) + "/configs/kjv-books.toml --from " +
                              (dir / "pre").string() + data + " --set data.train_labels=" + (dir / "short.labels").string());
  EXPECT_NE(mismatch.status, 0);
  EXPECT_NE(mismatch.output.find("has 2000 lines but"), std::string::npos) << mismatch.output;
  {
    std::ofstream vocab(dir / "bad-vocab.txt");
    vocab << "[PAD]\n[UNK]\n[SEP]\n[MASK]\nthe\n";
  }
  const Result bad_vocab = run("finetune -c " + std::string(KILN_SOURCE_DIR) + "/configs/kjv-books.toml" + data +
                               " --set tokenizer.vocab=" + (dir / "bad-vocab.txt").string());
  EXPECT_NE(bad_vocab.status, 0);
  EXPECT_NE(bad_vocab.output.find("[CLS]"), std::string::npos) << bad_vocab.output;
  // A device or a folder as a text file is refused before reading (a line of /dev/zero never ends).
  const Result device = run("finetune -c " + std::string(KILN_SOURCE_DIR) + "/configs/kjv-books.toml --from " +
                            (dir / "pre").string() + data + " --set data.test_labels=/dev/zero");
  EXPECT_NE(device.status, 0);
  EXPECT_NE(device.output.find("data.test_labels: '/dev/zero' is not a regular file"), std::string::npos)
      << device.output;
  fs::remove_all(dir);
}

}  // namespace
