// `kiln ngram` as a user runs it: results on disk, one-line errors naming the
// file and line, and never a partial output file.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;

struct Result {
  int status;
  std::string output;
};

Result run(const std::string& args) {
  FILE* pipe = popen((std::string(KILN_BINARY) + " ngram " + args + " 2>&1").c_str(), "r");
  std::string output;
  std::array<char, 4096> buffer{};
  while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

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
  ASSERT_EQ(run("build --order 3 --prune 0 1 1 --memory 1K --temp-dir " + dir_.string() + " " + toy + "corpus.txt -o " +
                spilled.string())
                .status,
            0);
  std::ifstream a(arpa), b(spilled);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), std::string(std::istreambuf_iterator<char>(b), {}));
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
  const fs::path bin = dir_ / "out.kbin";
  expect_clean_failure("compile " + write("bad.arpa", "\\data\\\nngram 1=2\n\n\\1-grams:\n-1\t<unk>\t0\n\n\\end\\\n").string() +
                           " -o " + bin.string(),
                       "bad.arpa:6", bin);
  expect_clean_failure("query " + write("foreign.kbin", "KILNNGRM-not-really").string(), "foreign.kbin", dir_ / "none");
}

}  // namespace
