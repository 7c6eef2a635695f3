// `kiln data render-ocr` and `kiln data fashion-canvas` as a user runs them:
// PNGs and a TSV per image, the same files for the same seed, and one-line
// errors for bad options. Needs the Debian data packages (skipped without).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "support/cli.hpp"

namespace {

namespace fs = std::filesystem;

using Result = kiln::testing::CommandResult;

Result run(const std::string& args) { return kiln::testing::run_kiln(args); }

bool one_error_line(const Result& r) {
  return r.status == 1 && r.output.rfind("kiln: error: ", 0) == 0 && r.output.find('\n') == r.output.size() - 1;
}

std::string file_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int line_count(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

class VisionDataCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / "kiln-vision-data-cli-test";
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(VisionDataCli, RenderOcrWritesPngsAndTexts) {
  if (!fs::exists("/usr/bin/bible") || !fs::exists("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    GTEST_SKIP() << "bible-kjv or fonts-dejavu-core is not installed";
  const fs::path a = dir_ / "a", b = dir_ / "b";
  Result r = run("data render-ocr -n 4 --out " + a.string() + " --seed 3 --split test");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("render-ocr: 4 lines (test split, seed 3)"), std::string::npos) << r.output;
  const std::string texts = file_text(a / "texts.tsv");
  EXPECT_EQ(line_count(texts), 5);  // header + 4 lines
  EXPECT_EQ(texts.rfind("file\ttext\tpixel_height\theight\twidth\n00000.png\t", 0), 0u) << texts;
  for (const char* png : {"00000.png", "00003.png"}) EXPECT_EQ(file_text(a / png).substr(1, 3), "PNG");
  r = run("data render-ocr -n 4 --out " + b.string() + " --seed 3 --split test");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(file_text(b / "texts.tsv"), texts);
  EXPECT_EQ(file_text(b / "00002.png"), file_text(a / "00002.png"));
  r = run("data render-ocr -n 2 --easy --out " + b.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("100.0% 16 px high"), std::string::npos) << r.output;
}

TEST_F(VisionDataCli, FashionCanvasWritesPngsAndLabels) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  Result r = run("data fashion-canvas -n 3 --split test --out " + dir_.string());
  ASSERT_EQ(r.status, 0) << r.output;
  // t10k's first garments: ankle boot, pullover, trouser.
  const std::string labels = file_text(dir_ / "labels.tsv");
  EXPECT_EQ(line_count(labels), 4);
  EXPECT_EQ(labels.rfind("file\tlabel\tclass\theight\twidth\n00000.png\t9\tankle boot\t", 0), 0u) << labels;
  EXPECT_NE(labels.find("00001.png\t2\tpullover\t"), std::string::npos) << labels;
  r = run("data fashion-canvas -n 2 --side 80 --split test --out " + dir_.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(file_text(dir_ / "labels.tsv").find("00001.png\t2\tpullover\t80\t80\n"), std::string::npos);
}

TEST_F(VisionDataCli, BadOptionsAreOneLine) {
  Result r = run("data render-ocr -n 2 --split dev --out " + dir_.string());
  EXPECT_TRUE(one_error_line(r)) << r.output;
  EXPECT_NE(r.output.find("--split = \"dev\": expected \"train\" or \"test\""), std::string::npos) << r.output;
  r = run("data fashion-canvas -n 0 --out " + dir_.string());
  EXPECT_TRUE(one_error_line(r)) << r.output;
  EXPECT_NE(r.output.find("-n 0: expected 1 to 1,000,000 images"), std::string::npos) << r.output;
}

}  // namespace
