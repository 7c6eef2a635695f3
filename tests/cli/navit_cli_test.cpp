// `kiln navit train|eval` and `kiln vit eval --image-size` as a user runs
// them, on a small synthetic Fashion-MNIST folder written here (two classes
// of 28×28 images: a bright horizontal or vertical bar): a short packed
// run on canvases of random size learns it, saves its model with Qwen2-VL's vision names, and
// evaluates at square sizes it was and was not trained at; bad sizes and a
// factorised table too small for the test grid end in one line; a finished
// run resumes from its trainer state.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "support/cli.hpp"

namespace {

namespace fs = std::filesystem;

using Result = kiln::testing::CommandResult;

Result run(const std::string& args) { return kiln::testing::run_kiln(args); }

void put32(std::ofstream& out, uint32_t v) {
  const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                         static_cast<char>(v)};
  out.write(bytes, 4);
}

// n images of side×side: class 0 has a bright horizontal bar across the middle,
// class 1 a vertical one (a pattern that survives being pasted anywhere on a canvas).
void write_idx(const fs::path& prefix, int n, int side) {
  std::ofstream images(prefix.string() + "-images-idx3-ubyte", std::ios::binary);
  for (uint32_t v : {0x803u, static_cast<uint32_t>(n), static_cast<uint32_t>(side), static_cast<uint32_t>(side)})
    put32(images, v);
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x) {
        const bool across = std::abs(y - side / 2) < 3, down = std::abs(x - side / 2) < 3;
        const bool bright = (i % 2 == 0) ? across : down;
        images.put(static_cast<char>(bright ? 200 + (i * 7 + x) % 50 : (i * 13 + y * 3 + x) % 40));
      }
  std::ofstream labels(prefix.string() + "-labels-idx1-ubyte", std::ios::binary);
  put32(labels, 0x801);
  put32(labels, static_cast<uint32_t>(n));
  for (int i = 0; i < n; ++i) labels.put(static_cast<char>(i % 2));
}

// The accuracy on the line of `navit eval`'s table that starts with `what`.
double accuracy_at(const std::string& output, const std::string& what) {
  const size_t at = output.find(what + "  ");
  if (at == std::string::npos) return -1;
  const size_t line_end = output.find('\n', at);
  const std::string line = output.substr(at, line_end - at);
  return std::stod(line.substr(line.rfind("  ") + 2));
}

class NavitCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("kiln_navit_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    write_idx(dir_ / "train", 256, 28);
    write_idx(dir_ / "t10k", 64, 28);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string small_args() {
    return " --set data.dir=" + dir_.string() +
           " --set vision.d_model=16 --set vision.n_layer=1 --set vision.n_head=2 --set vision.mlp_dim=32"
           " --set model.n_classes=2 --set train.batch_size=32 --set train.warmup_steps=5"
           " --set train.lr=1e-2";
  }
  static fs::path dir_;
};
fs::path NavitCli::dir_;

TEST_F(NavitCli, LearnsAtRandomSizesAndEvaluatesAtUnseenOnes) {
  const fs::path run_dir = dir_ / "rope2d";
  const Result r = run("navit train -c configs/fmnist-navit.toml" + small_args() +
                       " --set train.epochs=8 --set run.dir=" + run_dir.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("test canvases: accuracy"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(run_dir / "model" / "model.safetensors"));
  std::ifstream config(run_dir / "model" / "config.json");
  const std::string json((std::istreambuf_iterator<char>(config)), std::istreambuf_iterator<char>());
  EXPECT_NE(json.find("\"model_type\": \"kiln_navit\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"positions\": \"rope2d\""), std::string::npos) << json;

  const Result e = run("navit eval " + run_dir.string() + " --data " + dir_.string() + " --image-size 16 32 80");
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_GE(accuracy_at(e.output, "canvases"), 90.0) << e.output;
  EXPECT_GE(accuracy_at(e.output, "32×32 px"), 90.0) << e.output;  // garments trained at 16–56 px
  EXPECT_GE(accuracy_at(e.output, "80×80 px"), 0.0) << e.output;   // beyond any canvas: reported

  const Result bad = run("navit eval " + run_dir.string() + " --data " + dir_.string() + " --image-size 20");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("--image-size 20 must be a positive multiple of patch_size · merge_size = 8"),
            std::string::npos)
      << bad.output;
}

TEST_F(NavitCli, FactorizedTablesRefuseGridsBeyondThem) {
  const fs::path run_dir = dir_ / "factorized";
  const Result r = run("navit train -c configs/fmnist-navit.toml" + small_args() +
                       " --set vision.positions=factorized --set train.max_steps=2 --set run.dir=" + run_dir.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const Result e = run("navit eval " + run_dir.string() + " --data " + dir_.string() + " --image-size 104");
  EXPECT_NE(e.status, 0);
  EXPECT_NE(e.output.find("image 0: row 25 ≥ vision.max_rows 24 (use factorized_fractional or rope2d)"),
            std::string::npos)
      << e.output;
}

// The fixed-resolution baselines: every image resized to (or padded onto)
// one square, in training and in evaluation, so each step's tokens are
// images × (side / patch)²; a pad canvas smaller than a canvas is one line.
TEST_F(NavitCli, FixedResolutionBaselines) {
  for (const auto& [mode, side] : {std::pair<std::string, int64_t>{"resize", 32}, {"pad", 88}}) {
    const fs::path run_dir = dir_ / ("fixed-" + mode);
    const Result r = run("navit train -c configs/fmnist-navit.toml" + small_args() + " --set data.image_mode=" + mode +
                         " --set train.max_steps=2 --set eval.test_images=50 --set run.dir=" + run_dir.string());
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("data.image_mode = \"" + mode + "\""), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(" of 50)"), std::string::npos) << r.output;  // eval.test_images
    std::ifstream metrics(run_dir / "metrics.jsonl");
    std::string line;
    ASSERT_TRUE(std::getline(metrics, line));
    const int64_t tokens = 32 * (side / 4) * (side / 4);  // batch 32
    EXPECT_NE(line.find("\"vision_tokens\":" + std::to_string(tokens)), std::string::npos) << line;
    const Result e = run("navit eval " + run_dir.string() + " --data " + dir_.string() + " --image-size 16 80");
    ASSERT_EQ(e.status, 0) << e.output;
    EXPECT_NE(e.output.find(std::to_string(side) + "×" + std::to_string(side) + " px"), std::string::npos) << e.output;
    EXPECT_GE(accuracy_at(e.output, "80×80 px"), 0.0) << e.output;
  }
  const Result small = run("navit train -c configs/fmnist-navit.toml" + small_args() +
                           " --set data.image_mode=pad --set data.image_size=48 --set train.max_steps=1 --set run.dir=" +
                           (dir_ / "fixed-small").string());
  EXPECT_NE(small.status, 0);
  EXPECT_NE(small.output.find("px image does not fit the 48×48 pad canvas"), std::string::npos) << small.output;
  const Result odd = run("navit train -c configs/fmnist-navit.toml" + small_args() +
                         " --set data.image_mode=resize --set data.image_size=30");
  EXPECT_NE(odd.status, 0);
  EXPECT_NE(odd.output.find("data.image_size = 30 must be a multiple of patch_size · merge_size = 8"),
            std::string::npos)
      << odd.output;
}

TEST_F(NavitCli, DropsTokensWhileTrainingOnly) {
  const fs::path run_dir = dir_ / "drop";
  const Result r = run("navit train -c configs/fmnist-navit.toml" + small_args() +
                       " --set vision.token_drop=const:0.5 --set train.max_steps=3"
                       " --set run.dir=" + run_dir.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("test canvases: accuracy"), std::string::npos) << r.output;
  std::ifstream metrics(run_dir / "metrics.jsonl");
  int steps = 0;
  for (std::string line; std::getline(metrics, line);) {
    const size_t at = line.find("\"tokens_dropped\":");
    if (at == std::string::npos) continue;
    // Canvas grids are whole 2×2 blocks, so every image has an even count and keeps exactly half.
    EXPECT_NEAR(std::stod(line.substr(at + 17)), 0.5, 1e-12) << line;
    ++steps;
  }
  EXPECT_EQ(steps, 3);

  const Result fractional = run("navit train -c configs/fmnist-navit.toml" + small_args() +
                                " --set vision.token_drop=uniform:0.5 --set vision.positions=factorized_fractional");
  EXPECT_NE(fractional.status, 0);
  EXPECT_NE(fractional.output.find("vision.token_drop = \"uniform:0.5\" needs vision.positions = rope2d or factorized"),
            std::string::npos)
      << fractional.output;
  const Result bad = run("navit train -c configs/fmnist-navit.toml" + small_args() + " --set vision.token_drop=half");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("vision.token_drop = \"half\""), std::string::npos) << bad.output;
}

// The vision tokens each training step recorded in metrics.jsonl.
std::vector<int64_t> step_vision_tokens(const fs::path& run_dir) {
  std::ifstream metrics(run_dir / "metrics.jsonl");
  std::vector<int64_t> tokens;
  for (std::string line; std::getline(metrics, line);) {
    const size_t at = line.find("\"vision_tokens\":");
    if (at != std::string::npos) tokens.push_back(std::stoll(line.substr(at + 16)));
  }
  return tokens;
}

TEST_F(NavitCli, SamplesResolutionsWhileTrainingOnly) {
  std::map<std::string, std::vector<int64_t>> tokens;
  std::map<std::string, std::string> test_lines;
  for (const std::string scale : {"[1, 1]", "[0.5, 0.5]", "[2, 2]", "[0.5, 2]"}) {
    const fs::path run_dir = dir_ / ("scale" + std::to_string(tokens.size()));
    const Result r = run("navit train -c configs/fmnist-navit.toml" + small_args() +
                         " --set train.max_steps=3 --set 'data.resolution_scale=" + scale + "' --set run.dir=" +
                         run_dir.string());
    ASSERT_EQ(r.status, 0) << r.output;
    tokens[scale] = step_vision_tokens(run_dir);
    ASSERT_EQ(tokens[scale].size(), 3u) << scale;
    const size_t at = r.output.find("test canvases: accuracy");
    ASSERT_NE(at, std::string::npos) << r.output;
    EXPECT_NE(r.output.find("resolution sampling while training") == std::string::npos, scale != "[1, 1]") << r.output;
  }
  for (size_t step = 0; step < 3; ++step) {
    // Halving each side quarters the pixels down to 16² (the floor); doubling is capped at 64².
    EXPECT_LT(tokens["[0.5, 0.5]"][step], tokens["[1, 1]"][step]) << step;
    EXPECT_GT(tokens["[2, 2]"][step], tokens["[1, 1]"][step]) << step;
    EXPECT_NE(tokens["[0.5, 2]"][step], tokens["[1, 1]"][step]) << step;
  }
  const Result fixed = run("navit train -c configs/fmnist-navit.toml" + small_args() +
                           " --set 'data.resolution_scale=[0.5, 2]' --set data.image_mode=resize");
  EXPECT_NE(fixed.status, 0);
  EXPECT_NE(fixed.output.find("data.resolution_scale needs data.image_mode = \"native\""), std::string::npos)
      << fixed.output;
  const Result reversed =
      run("navit train -c configs/fmnist-navit.toml" + small_args() + " --set 'data.resolution_scale=[2, 1]'");
  EXPECT_NE(reversed.status, 0);
  EXPECT_NE(reversed.output.find("data.resolution_scale = [2, 1] must satisfy 0 < lo ≤ hi ≤ 8"), std::string::npos)
      << reversed.output;
}

TEST_F(NavitCli, ResumesFromItsTrainerState) {
  const std::string args = "navit train -c configs/fmnist-navit.toml" + small_args() +
                           " --set train.epochs=1 --set run.dir=" + (dir_ / "resume").string();
  ASSERT_EQ(run(args).status, 0);
  EXPECT_TRUE(fs::exists(dir_ / "resume" / "trainer_state" / "trainer_state.safetensors"));
  const Result resumed = run(args + " --resume");  // nothing left to train: evaluates the saved weights
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed after epoch 1 (step 8/8)"), std::string::npos) << resumed.output;
  EXPECT_NE(resumed.output.find("test canvases: accuracy"), std::string::npos) << resumed.output;
  const Result other = run(args + " --resume --set train.batch_size=16");
  EXPECT_NE(other.status, 0);
  EXPECT_NE(other.output.find("kiln: error: --resume: "), std::string::npos) << other.output;
}

TEST_F(NavitCli, BadConfigurationIsOneLine) {
  const Result r = run("navit train -c configs/fmnist-navit.toml" + small_args() + " --set vision.positions=sincos");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("vision.positions"), std::string::npos) << r.output;
  const Result odd = run("navit train -c configs/fmnist-navit.toml" + small_args() + " --set vision.n_head=8");
  EXPECT_NE(odd.status, 0);
  EXPECT_NE(odd.output.find("rope2d needs a head dimension divisible by 4"), std::string::npos) << odd.output;
}

TEST_F(NavitCli, VitEvaluatesAtAnotherImageSizeWithResizedPositions) {
  const fs::path run_dir = dir_ / "vit";
  const Result r = run("vit train --set data.train=" + (dir_ / "train").string() + " --set data.test=" +
                       (dir_ / "t10k").string() +
                       " --set model.image_size=28 --set model.patch_size=4 --set model.d_model=16 --set model.n_layer=1"
                       " --set model.n_head=2 --set model.n_classes=2 --set train.batch_size=32"
                       " --set train.warmup_steps=5 --set train.epochs=2 --set run.dir=" + run_dir.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const Result e = run("vit eval " + run_dir.string() + " --data " + (dir_ / "t10k").string() + " --image-size 16");
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_NE(e.output.find("at 16×16 px (resampled from 28×28): accuracy"), std::string::npos) << e.output;
  const Result bad = run("vit eval " + run_dir.string() + " --data " + (dir_ / "t10k").string() + " --image-size 18");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("--image-size 18 must be a positive multiple of the model's patch size 4"),
            std::string::npos)
      << bad.output;
}

}  // namespace
