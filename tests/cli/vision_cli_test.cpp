// `kiln vit` and `kiln mae` as a user runs them, on a small synthetic IDX set
// written here (two classes of 8×8 images that differ in where the bright
// square is): a short ViT run learns it and writes its model, config and
// confusion matrix; MAE pre-trains, shows reconstructions, probes and
// fine-tunes; corrupt, truncated, mismatched and wrong-size inputs end in one
// clear line and a non-zero exit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

// n images of side×side: class 0 has a bright square top-left, class 1 bottom-right, plus a little noise.
void write_idx(const fs::path& prefix, int n, int side, int label_count = -1, uint32_t magic = 0x803) {
  std::ofstream images(prefix.string() + "-images-idx3-ubyte", std::ios::binary);
  put32(images, magic);
  put32(images, static_cast<uint32_t>(n));
  put32(images, static_cast<uint32_t>(side));
  put32(images, static_cast<uint32_t>(side));
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x) {
        const bool top_left = y < side / 2 && x < side / 2, bottom_right = y >= side / 2 && x >= side / 2;
        const bool bright = (i % 2 == 0) ? top_left : bottom_right;
        images.put(static_cast<char>(bright ? 200 + (i * 7 + x) % 50 : (i * 13 + y * 3 + x) % 40));
      }
  std::ofstream labels(prefix.string() + "-labels-idx1-ubyte", std::ios::binary);
  put32(labels, 0x801);
  const int m = label_count < 0 ? n : label_count;
  put32(labels, static_cast<uint32_t>(m));
  for (int i = 0; i < m; ++i) labels.put(static_cast<char>(i % 2));
}

class VisionCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("kiln_vision_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    write_idx(dir_ / "train", 256, 8);
    write_idx(dir_ / "test", 64, 8);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string data_args() {
    return " --set data.train=" + (dir_ / "train").string() + " --set data.test=" + (dir_ / "test").string() +
           " --set model.image_size=8 --set model.patch_size=4 --set model.d_model=16 --set model.n_layer=1"
           " --set model.n_head=2 --set model.n_classes=2 --set train.batch_size=32 --set train.warmup_steps=5"
           " --set train.pixel_mean=0.3 --set train.pixel_std=0.3";
  }
  static fs::path dir_;
};
fs::path VisionCli::dir_;

TEST_F(VisionCli, VitLearnsAndWritesModelConfigAndConfusionMatrix) {
  const fs::path run_dir = dir_ / "vit";
  const Result r = run("vit train" + data_args() + " --set train.epochs=25 --set train.lr=3e-3 --set run.dir=" + run_dir.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const size_t at = r.output.find("test set: accuracy ");
  ASSERT_NE(at, std::string::npos) << r.output;
  EXPECT_GE(std::stod(r.output.substr(at + 19)), 90.0) << r.output;  // the two classes are easy
  EXPECT_TRUE(fs::exists(run_dir / "model" / "model.safetensors"));
  EXPECT_TRUE(fs::exists(run_dir / "model" / "config.json"));
  EXPECT_TRUE(fs::exists(run_dir / "confusion.png"));
  const Result eval = run("vit eval " + run_dir.string() + " --data " + (dir_ / "test").string());
  ASSERT_EQ(eval.status, 0) << eval.output;
  EXPECT_NE(eval.output.find("accuracy"), std::string::npos);
}

TEST_F(VisionCli, VitResumesFromItsTrainingStateAndRefusesAnotherSchedule) {
  const std::string args = "vit train" + data_args() + " --set train.epochs=2 --set run.dir=" + (dir_ / "resume").string();
  ASSERT_EQ(run(args).status, 0);
  EXPECT_TRUE(fs::exists(dir_ / "resume" / "trainer_state" / "trainer_state.safetensors"));
  const Result resumed = run(args + " --resume");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed after epoch 2 (step 16/16)"), std::string::npos) << resumed.output;
  EXPECT_NE(resumed.output.find("test set: accuracy"), std::string::npos) << resumed.output;
  const Result other = run(args + " --resume --set train.batch_size=16");
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.output.find("kiln: error: --resume: "), std::string::npos) << other.output;
  EXPECT_NE(other.output.find("batch_size = 32, this run asks 16"), std::string::npos) << other.output;
  const Result fresh = run("vit train" + data_args() + " --resume --set run.dir=" + (dir_ / "never").string());
  EXPECT_EQ(fresh.status, 1);
  EXPECT_NE(fresh.output.find("has no trainer_state/"), std::string::npos) << fresh.output;
}

TEST_F(VisionCli, MaePretrainsShowsProbesAndFinetunes) {
  const fs::path run_dir = dir_ / "mae";
  const std::string mae = data_args() + " --set model.decoder_dim=16 --set model.decoder_layers=1 --set model.decoder_heads=2" +
                          " --set model.mask_ratio=0.5";
  const Result r = run("mae train" + mae + " --set train.epochs=2 --set run.dir=" + run_dir.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const Result show = run("mae show " + run_dir.string() + " -n 4 --data " + (dir_ / "test").string());
  ASSERT_EQ(show.status, 0) << show.output;
  EXPECT_TRUE(fs::exists(run_dir / "mae-show.png"));
  const fs::path tuned = dir_ / "mae-ft";
  const Result ft = run("mae finetune " + run_dir.string() + data_args() + " --set train.epochs=2 --set run.dir=" +
                        tuned.string());
  ASSERT_EQ(ft.status, 0) << ft.output;
  EXPECT_NE(ft.output.find("test set: accuracy"), std::string::npos);
}

TEST_F(VisionCli, TomeTrainsEvaluatesAndSweeps) {
  // 8×8 images in 4 patches + class token; one block. Trained with r = 1 (5 → 4 tokens).
  const fs::path run_dir = dir_ / "tome";
  const Result r = run("vit train" + data_args() + " --set train.epochs=2 --set model.tome_r=1 --set run.dir=" +
                       run_dir.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("ToMe: 5 → 4 tokens"), std::string::npos) << r.output;
  std::ifstream config(run_dir / "model" / "config.json");
  const std::string json((std::istreambuf_iterator<char>(config)), std::istreambuf_iterator<char>());
  EXPECT_NE(json.find("\"tome_r\""), std::string::npos) << json;
  const std::string data = " --data " + (dir_ / "test").string();
  const Result trained_r = run("vit eval " + run_dir.string() + data);
  ASSERT_EQ(trained_r.status, 0) << trained_r.output;
  EXPECT_NE(trained_r.output.find("ToMe: 5 → 4 tokens"), std::string::npos) << trained_r.output;
  const Result off = run("vit eval " + run_dir.string() + data + " --tome-r 0");
  ASSERT_EQ(off.status, 0) << off.output;
  EXPECT_EQ(off.output.find("ToMe:"), std::string::npos) << off.output;
  const Result clamped = run("vit eval " + run_dir.string() + data + " --tome-r 5");
  ASSERT_EQ(clamped.status, 0) << clamped.output;
  EXPECT_NE(clamped.output.find("block 0 merges 2 of 5 tokens, not 5"), std::string::npos) << clamped.output;
  const Result sweep = run("vit tome-sweep " + run_dir.string() + data + " --r 0,1,2,3 --batch 16 --passes 2");
  ASSERT_EQ(sweep.status, 0) << sweep.output;
  for (const char* row : {"   0       5       1.000", "   1       4", "   2       3", "   3       3"})
    EXPECT_NE(sweep.output.find(row), std::string::npos) << row << "\n" << sweep.output;
  EXPECT_NE(sweep.output.find("(r clamped)"), std::string::npos) << sweep.output;
  const Result negative = run("vit eval " + run_dir.string() + data + " --tome-r -1");
  EXPECT_EQ(negative.status, 1);
  EXPECT_NE(negative.output.find("ToMe's r must not be negative, got -1"), std::string::npos) << negative.output;
  const Result negative_sweep = run("vit tome-sweep " + run_dir.string() + data + " --r 0,-2");
  EXPECT_EQ(negative_sweep.status, 1);
  EXPECT_NE(negative_sweep.output.find("must not be negative, got -2"), std::string::npos) << negative_sweep.output;
  const Result mae = run("mae train" + data_args() + " --set model.tome_r=1 --set run.dir=" + (dir_ / "mae-tome").string());
  EXPECT_EQ(mae.status, 1);
  EXPECT_NE(mae.output.find("model.tome_r: token merging is for kiln vit"), std::string::npos) << mae.output;
}

TEST_F(VisionCli, BadInputsAreOneLineErrors) {
  write_idx(dir_ / "badmagic", 8, 8, -1, 0x1234);
  write_idx(dir_ / "fewlabels", 8, 8, 5);
  write_idx(dir_ / "big", 8, 12);
  {
    write_idx(dir_ / "short", 8, 8);
    fs::resize_file(dir_ / "short-images-idx3-ubyte", 100);
  }
  const std::vector<std::pair<std::string, std::string>> cases{
      {"badmagic", "IDX element type 0x12"},
      {"fewlabels", "5 labels for the 8 images"},
      {"short", "the header promises"},
      {"big", "images are 1×12×12"},
      {"missing", "no such file"},
  };
  for (const auto& [name, message] : cases) {
    const Result r = run("vit train" + data_args() + " --set data.train=" + (dir_ / name).string() +
                         " --set run.dir=" + (dir_ / ("run-" + name)).string());
    EXPECT_NE(r.status, 0) << name;
    EXPECT_NE(r.output.find(message), std::string::npos) << name << ": " << r.output;
    EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  }
  const Result not_mae = run("mae show " + (dir_ / "nothing").string());
  EXPECT_NE(not_mae.status, 0);
  EXPECT_NE(not_mae.output.find("config.json"), std::string::npos) << not_mae.output;
}

}  // namespace
