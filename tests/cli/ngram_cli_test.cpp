// `kiln ngram` as a user runs it: results on disk, one-line errors naming the
// file and line, and never a partial output file.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include <unistd.h>

#include "support/cli.hpp"

namespace {

namespace fs = std::filesystem;

using Result = kiln::testing::CommandResult;

Result run(const std::string& args) { return kiln::testing::run_kiln("ngram " + args); }

class NgramCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_ngram_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  }
  // A failing command: exit status 1, one "kiln: error:" line containing `needle`, no output file left.
  void expect_clean_failure(const std::string& args, const std::string& needle, const fs::path& output) {
    const Result r = run(args);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_EQ(r.output.rfind("kiln: error: ", 0), 0u) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(output)) << "partial output left behind";
    for (const auto& entry : fs::directory_iterator(dir_))
      EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();
  }
  fs::path dir_;
};

TEST_F(NgramCli, BuildQueryCompileRoundTrip) {
  const std::string toy = std::string(KILN_TEST_DATA_DIR) + "/ngram/kenlm-toy/";
  const fs::path arpa = dir_ / "m.arpa", bin = dir_ / "m.kbin";
  ASSERT_EQ(run("build --order 3 --prune 0 1 1 " + toy + "corpus.txt -o " + arpa.string()).status, 0);
  ASSERT_EQ(run("compile " + arpa.string() + " -o " + bin.string()).status, 0);
  const Result from_arpa = run("query " + arpa.string() + " " + toy + "test.txt");
  const Result from_binary = run("query " + bin.string() + " " + toy + "test.txt");
  EXPECT_EQ(from_arpa.status, 0);
  EXPECT_EQ(from_arpa.output, from_binary.output);
  EXPECT_NE(from_arpa.output.find("Perplexity including OOVs:\t4.1953"), std::string::npos) << from_arpa.output;
  const Result json = run("query --json " + bin.string() + " " + toy + "test.txt");
  EXPECT_NE(json.output.find("\"perplexity_including_oovs\":4.1953"), std::string::npos) << json.output;
  const fs::path spilled = dir_ / "spilled.arpa";
  const Result out_of_core = run("build --order 3 --prune 0 1 1 --memory 1K --temp-dir " + dir_.string() + " " + toy +
                                 "corpus.txt -o " + spilled.string());
  ASSERT_EQ(out_of_core.status, 0) << out_of_core.output;
  EXPECT_NE(out_of_core.output.find("estimated out of core"), std::string::npos) << out_of_core.output;
  std::ifstream a(arpa), b(spilled);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), std::string(std::istreambuf_iterator<char>(b), {}));
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find("kiln-ngram-"), std::string::npos) << "left behind: " << entry.path();
}

TEST_F(NgramCli, FailedOutOfCoreBuildLeavesNoFiles) {
  // Counts-of-counts without closed-form discounts: the estimate fails after counting spilled.
  const fs::path corpus = write("bad.txt", "a a b a\nb a a b\n");
  const fs::path temp = dir_ / "temp";
  fs::create_directories(temp);
  expect_clean_failure("build --order 3 --memory 100 --temp-dir " + temp.string() + " " + corpus.string() + " -o " +
                           (dir_ / "bad.arpa").string(),
                       "could not estimate discounts", dir_ / "bad.arpa");
  EXPECT_TRUE(fs::is_empty(temp));
}

TEST_F(NgramCli, BadInputsAreCleanOneLineErrors) {
  const fs::path out = dir_ / "out.arpa";
  expect_clean_failure("build --order 3 " + write("empty.txt", "\n\n").string() + " -o " + out.string(), "empty", out);
  expect_clean_failure("build --order 11 " + write("ok.txt", "a b\n").string() + " -o " + out.string(), "between 1 and 10",
                       out);
  expect_clean_failure("build --order 3 " + write("sym.txt", "a b\na </s> b\n").string() + " -o " + out.string(),
                       "sym.txt:2", out);
  expect_clean_failure("build --order 3 " + write("utf.txt", "a\nb \xc3\x28\n").string() + " -o " + out.string(),
                       "utf.txt:2: invalid UTF-8", out);
  expect_clean_failure("build --order 3 " + write("few.txt", "a b\n").string() + " -o " + out.string(),
                       "--discount-fallback", out);
  expect_clean_failure("build --order 0 " + (dir_ / "ok.txt").string() + " -o " + out.string(), "between 1 and 10", out);
  for (const char* reserved : {"<s>", "<unk>"})
    expect_clean_failure("build --order 3 " + write("reserved.txt", std::string("a b\nc d\ne ") + reserved + "\n").string() +
                             " -o " + out.string(),
                         "reserved.txt:3", out);
  expect_clean_failure("build --order 3 --prune 0 2 1 " + (dir_ / "ok.txt").string() + " -o " + out.string(),
                       "must not decrease", out);
}

// lmplz's --prune accepts a unigram threshold, and --discount-fallback takes
// zero to three values (none: 0.5 1 1.5; fewer than three: the last repeats).
TEST_F(NgramCli, UnigramPruningAndFallbackValues) {
  const std::string toy = std::string(KILN_TEST_DATA_DIR) + "/ngram/kenlm-toy/";
  const fs::path pruned = dir_ / "pruned.arpa";
  const Result r = run("build --order 3 --prune 1 1 2 " + toy + "corpus.txt -o " + pruned.string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream in(pruned);
  const std::string arpa(std::istreambuf_iterator<char>(in), {});
  EXPECT_EQ(arpa.find("\tbone\t"), std::string::npos) << "a word seen once is pruned";
  EXPECT_NE(arpa.find("\t</s>\t"), std::string::npos) << "the specials stay";
  std::ifstream lmplz_pruned(toy + "order3_prune_1_1_2.arpa");
  EXPECT_EQ(arpa, std::string(std::istreambuf_iterator<char>(lmplz_pruned), {})) << "lmplz --prune 1 1 2 wrote this";

  const fs::path tiny = write("tiny.txt", "a a b a\nb a a b\n");
  auto model = [&](const std::string& fallback, const std::string& name) {
    const fs::path out = dir_ / name;
    const Result built = run("build --order 3 " + fallback + " " + tiny.string() + " -o " + out.string());
    EXPECT_EQ(built.status, 0) << fallback << ": " << built.output;
    std::ifstream f(out);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  const std::string by_default = model("--discount-fallback", "default.arpa");
  EXPECT_EQ(model("--discount-fallback 0.5 1 1.5", "explicit.arpa"), by_default);
  EXPECT_NE(model("--discount-fallback 0.4 0.9 1.2", "own.arpa"), by_default);
  EXPECT_EQ(model("--discount-fallback 0.4 0.9", "two.arpa"), model("--discount-fallback 0.4 0.9 0.9", "three.arpa"));
  std::ifstream lmplz(toy + "tiny_order3_fallback_0.4_0.9.arpa");  // lmplz --discount_fallback 0.4 0.9 on the same text
  EXPECT_EQ(model("--discount-fallback 0.4 0.9", "again.arpa"), std::string(std::istreambuf_iterator<char>(lmplz), {}));
  const Result report = run("build --order 3 --discount-fallback 0.4 0.9 1.2 " + tiny.string() + " -o " +
                            (dir_ / "r.arpa").string());
  EXPECT_NE(report.output.find("D1=0.4 D2=0.9 D3+=1.2 (fallback)"), std::string::npos) << report.output;

  const fs::path out = dir_ / "bad.arpa";
  expect_clean_failure("build --order 3 --discount-fallback 1.5 " + tiny.string() + " -o " + out.string(),
                       "D1 = 1.5 is outside [0, 1]", out);
  expect_clean_failure("build --order 3 --discount-fallback 0.1 0.2 0.3 0.4 " + tiny.string() + " -o " + out.string(),
                       "at most 3 values", out);
  expect_clean_failure("build --order 3 --discount-fallback 0.5 x " + tiny.string() + " -o " + out.string(),
                       "'x' is not a number", out);
}

// --limit-vocab keeps only n-grams of listed words; the others score as <unk>.
TEST_F(NgramCli, LimitVocabKeepsOnlyListedWords) {
  const std::string toy = std::string(KILN_TEST_DATA_DIR) + "/ngram/kenlm-toy/";
  const fs::path out = dir_ / "limited.arpa";
  const Result r = run("build --order 3 --limit-vocab " + write("vocab.txt", "the cat\nsat\n").string() + " " + toy +
                       "corpus.txt -o " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream in(out);
  const std::string arpa(std::istreambuf_iterator<char>(in), {});
  EXPECT_EQ(arpa.rfind("\\data\\\nngram 1=6\n", 0), 0u) << arpa.substr(0, 60);
  EXPECT_EQ(arpa.find("dog"), std::string::npos);
  std::ifstream lmplz(toy + "order3_limit_vocab.arpa");  // lmplz --limit_vocab_file with the same words
  EXPECT_EQ(arpa, std::string(std::istreambuf_iterator<char>(lmplz), {}));
  expect_clean_failure("build --order 3 --limit-vocab " + (dir_ / "missing.txt").string() + " " + toy +
                           "corpus.txt -o " + (dir_ / "none.arpa").string(),
                       "missing.txt: cannot open", dir_ / "none.arpa");
  expect_clean_failure("build --order 3 --limit-vocab " + dir_.string() + " " + toy + "corpus.txt -o " +
                           (dir_ / "none.arpa").string(),
                       "is a directory, not a vocabulary list", dir_ / "none.arpa");
  expect_clean_failure("build --order 3 " + dir_.string() + " -o " + (dir_ / "none.arpa").string(),
                       "is a directory, not a corpus file", dir_ / "none.arpa");
}

// Every malformed ARPA is refused by compile and by query with the file and
// line, and compile leaves nothing behind.
TEST_F(NgramCli, MalformedArpaFilesNameTheLine) {
  const std::string good = "\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-1\t<unk>\t0\n0\t<s>\t-0.5\n-0.5\t</s>\t0\n"
                           "-0.5\ta\t-0.2\n\n\\2-grams:\n-0.2\t<s> a\n-0.3\ta </s>\n\n\\end\\\n";
  const fs::path bin = dir_ / "out.kbin";
  ASSERT_EQ(run("compile " + write("good.arpa", good).string() + " -o " + bin.string()).status, 0);
  fs::remove(bin);
  auto edited = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"more.arpa", edited("ngram 2=2", "ngram 2=3"), "more.arpa:14: the 2-gram section has fewer"},
      {"fewer.arpa", edited("ngram 1=4", "ngram 1=3"), "fewer.arpa:9: the 1-gram section has more"},
      {"nosection.arpa", edited("\\2-grams:\n", ""), "nosection.arpa:11: expected \\2-grams:"},
      {"noend.arpa", edited("\\end\\\n", ""), "noend.arpa:"},
      {"nodata.arpa", edited("\\data\\\n", ""), "nodata.arpa:1"},
      {"text.arpa", edited("-0.3\ta </s>", "-0.3x\ta </s>"), "text.arpa:13: '-0.3x' is not a number"},
      {"backoff.arpa", edited("-0.5\ta\t-0.2", "-0.5\ta\tnan"), "backoff.arpa:9: 'nan' is not a number"},
      {"count.arpa", edited("ngram 2=2", "ngram 2=two"), "count.arpa:3: 'two' is not a count"},
      {"duplicate.arpa", edited("-0.3\ta </s>", "-0.3\t<s> a"), "duplicate.arpa:13: duplicate 2-gram"},
      {"unknown.arpa", edited("-0.3\ta </s>", "-0.3\ta b"), "unknown.arpa:13: word 'b' is not among the unigrams"},
      {"positive.arpa", edited("-0.2\t<s> a", "0.2\t<s> a"), "positive.arpa:12: positive log probability"},
      {"after.arpa", good + "trailing\n", "after.arpa:16: text after \\end\\"},
  };
  for (const auto& [name, text, needle] : cases) {
    const fs::path arpa = write(name, text);
    expect_clean_failure("compile " + arpa.string() + " -o " + bin.string(), needle, bin);
    expect_clean_failure("query " + arpa.string() + " " + write("q.txt", "a\n").string(), needle, dir_ / "none");
  }
}

TEST_F(NgramCli, TruncatedForeignOrCorruptBinariesAreRefused) {
  const std::string toy = std::string(KILN_TEST_DATA_DIR) + "/ngram/kenlm-toy/";
  const fs::path bin = dir_ / "m.kbin", text = write("q.txt", "the cat\n");
  ASSERT_EQ(run("compile " + toy + "order3.arpa -o " + bin.string()).status, 0);
  std::ifstream in(bin, std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  std::string corrupt = bytes, old_version = bytes;
  corrupt[bytes.size() / 2] = static_cast<char>(corrupt[bytes.size() / 2] ^ 0x55);
  old_version[8] = 1;
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"truncated.kbin", bytes.substr(0, bytes.size() - 64), "truncated.kbin: truncated"},
      {"header.kbin", bytes.substr(0, 40), "header.kbin: too short"},
      {"corrupt.kbin", corrupt, "corrupt.kbin: checksum mismatch"},
      {"version.kbin", old_version, "version.kbin: binary format version 1"},
      {"kenlm.binary", "mmap lm http://kheafield.com/code format version 5\n\0\0\x01", "kenlm.binary:1"},
      {"image.png", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image.png:1"},
  };
  for (const auto& [name, content, needle] : cases)
    expect_clean_failure("query " + write(name, content).string() + " " + text.string(), needle, dir_ / "none");
  expect_clean_failure("query " + (dir_ / "missing.kbin").string(), "missing.kbin: cannot open", dir_ / "none");
}

TEST_F(NgramCli, FailureKeepsAnEarlierOutputFile) {
  const fs::path out = write("model.arpa", "an earlier model\n");
  const Result r = run("build --order 3 " + write("sym.txt", "a </s>\n").string() + " -o " + out.string());
  EXPECT_EQ(r.status, 1);
  std::ifstream in(out);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "an earlier model\n");
}

TEST_F(NgramCli, BuildsFromStdinAndHelpExplainsOptions) {
  const std::string toy = std::string(KILN_TEST_DATA_DIR) + "/ngram/kenlm-toy/";
  const fs::path from_file = dir_ / "file.arpa", from_stdin = dir_ / "stdin.arpa";
  ASSERT_EQ(run("build --order 3 " + toy + "corpus.txt -o " + from_file.string()).status, 0);
  ASSERT_EQ(run("build --order 3 -o " + from_stdin.string() + " < " + toy + "corpus.txt").status, 0);
  const fs::path from_device = dir_ / "device.arpa";  // a corpus path without a size (a pipe or device)
  ASSERT_EQ(run("build --order 3 /dev/stdin -o " + from_device.string() + " < " + toy + "corpus.txt").status, 0);
  std::ifstream c(from_device);
  std::ifstream d(from_file);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(c), {}), std::string(std::istreambuf_iterator<char>(d), {}));
  std::ifstream a(from_file), b(from_stdin);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), std::string(std::istreambuf_iterator<char>(b), {}));
  const Result help = run("build --help");
  EXPECT_EQ(help.status, 0);
  for (const char* option : {"--order", "--prune", "--discount-fallback", "--memory", "--temp-dir", "--limit-vocab",
                             "--progress"})
    EXPECT_NE(help.output.find(option), std::string::npos) << option;
}

}  // namespace
