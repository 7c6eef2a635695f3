// `kiln vlm` as a user runs it, with a tiny model on the Fashion canvases:
// a run that stops after step 2 and resumes logs the same losses as one run
// straight through (SPEC-VLM §9 invariant 12), writes a model that `vlm eval`
// and `vlm generate` load, and bad inputs end in one clear line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/cli.hpp"

namespace {

namespace fs = std::filesystem;

using Result = kiln::testing::CommandResult;

Result run(const std::string& args) { return kiln::testing::run_kiln(args); }

const std::string kTiny =
    " --set vision.d_model=16 --set vision.n_layer=1 --set vision.n_head=2 --set vision.mlp_dim=32"
    " --set model.d_model=32 --set model.n_layer=1 --set model.n_head=2 --set model.n_kv_head=2"
    " --set model.ffn_hidden=64 --set model.mrope_section=[2,3,3] --set model.max_seq_len=256"
    " --set data.packing_length=256 --set vision.max_tokens=1024 --set train.steps=4 --set train.warmup_steps=1"
    " --set train.eval_every=4 --set eval.samples=3";

std::vector<double> losses(const fs::path& metrics) {
  std::vector<double> out;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  return out;
}

// The raw bytes of every tensor in a safetensors file, by name.
std::map<std::string, std::string> tensor_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  uint64_t header_size = 0;
  in.read(reinterpret_cast<char*>(&header_size), sizeof header_size);
  std::string header(header_size, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_size));
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const nlohmann::json index = nlohmann::json::parse(header);
  std::map<std::string, std::string> out;
  for (const auto& [name, entry] : index.items()) {
    if (name == "__metadata__") continue;
    const auto begin = entry.at("data_offsets")[0].get<size_t>(), end = entry.at("data_offsets")[1].get<size_t>();
    out[name] = data.substr(begin, end - begin);
  }
  return out;
}

TEST(VlmCli, ResumedRunMatchesOneRunAndTheModelAnswers) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const fs::path dir = fs::temp_directory_path() / ("kiln-vlm-cli-" + std::to_string(getpid()));
  fs::remove_all(dir);
  const std::string config = " -c " + std::string(KILN_SOURCE_DIR) + "/configs/fmnist-vlm.toml" + kTiny;
  const Result whole = run("vlm train" + config + " --set run.dir=" + (dir / "whole").string());
  ASSERT_EQ(whole.status, 0) << whole.output;
  EXPECT_NE(whole.output.find("per-image accuracy"), std::string::npos) << whole.output;
  const Result first = run("vlm train" + config + " --set train.stop_after=2 --set run.dir=" + (dir / "split").string());
  ASSERT_EQ(first.status, 0) << first.output;
  const Result second = run("vlm train --resume" + config + " --set run.dir=" + (dir / "split").string());
  ASSERT_EQ(second.status, 0) << second.output;
  const auto a = losses(dir / "whole" / "metrics.jsonl"), b = losses(dir / "split" / "metrics.jsonl");
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 1e-9 * std::abs(a[i])) << "step " << i + 1;

  // The text-only floor: trained on zeroed image features, so its first loss
  // differs from the sighted run's, and `vlm eval` evaluates it blind unasked.
  const Result blind = run("vlm train" + config + " --set train.blind=true --set run.dir=" + (dir / "blind").string());
  ASSERT_EQ(blind.status, 0) << blind.output;
  EXPECT_NE(blind.output.find("trained and evaluated blind"), std::string::npos) << blind.output;
  const auto c = losses(dir / "blind" / "metrics.jsonl");
  ASSERT_EQ(c.size(), 4u);
  EXPECT_GT(std::abs(c[0] - a[0]), 1e-6 * std::abs(a[0]));
  const Result blind_eval = run("vlm eval " + (dir / "blind").string() + " -n 2");
  EXPECT_EQ(blind_eval.status, 0) << blind_eval.output;
  EXPECT_NE(blind_eval.output.find("blind (image features zeroed)"), std::string::npos) << blind_eval.output;

  const Result eval = run("vlm eval " + (dir / "whole").string() + " -n 2 --blind");
  EXPECT_EQ(eval.status, 0) << eval.output;
  EXPECT_NE(eval.output.find("blind"), std::string::npos) << eval.output;
  const Result canvas = run("data fashion-canvas -n 1 --out " + (dir / "png").string());
  ASSERT_EQ(canvas.status, 0) << canvas.output;
  const Result answer = run("vlm generate " + (dir / "whole").string() + " --image " + (dir / "png" / "00000.png").string());
  EXPECT_EQ(answer.status, 0) << answer.output;

  // One-line errors: a missing image, a file that is no image, an M-RoPE section that does not fit the heads.
  const Result missing = run("vlm generate " + (dir / "whole").string() + " --image " + (dir / "none.png").string());
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.output.find("no such image file"), std::string::npos) << missing.output;
  std::ofstream(dir / "junk.png") << "not a png";
  const Result junk = run("vlm generate " + (dir / "whole").string() + " --image " + (dir / "junk.png").string());
  EXPECT_NE(junk.status, 0);
  EXPECT_NE(junk.output.find("cannot decode image"), std::string::npos) << junk.output;
  const Result section = run("vlm train" + config + " --set model.mrope_section=[4,6,5] --set run.dir=" +
                             (dir / "bad").string());
  EXPECT_NE(section.status, 0);
  EXPECT_NE(section.output.find("model.mrope_section sums to 15, expected head_dim/2 = 8"), std::string::npos)
      << section.output;
  // SPEC-VLM §11: dropped tokens break the merger's 2×2 groups.
  const Result drop = run("vlm train" + config + " --set vision.token_drop=const:0.25 --set run.dir=" +
                          (dir / "bad").string());
  EXPECT_NE(drop.status, 0);
  EXPECT_NE(drop.output.find("vision.token_drop needs projector = mlp2x_gelu or linear (a merger needs whole 2×2 groups)"),
            std::string::npos)
      << drop.output;
  const Result scale = run("vlm train" + config + " --set 'data.resolution_scale=[0.5, 2]' --set data.task=kjv-ocr" +
                           " --set run.dir=" + (dir / "bad").string());
  EXPECT_NE(scale.status, 0);
  EXPECT_NE(scale.output.find("data.resolution_scale needs data.task = \"fashion-canvas\""), std::string::npos)
      << scale.output;
  fs::remove_all(dir);
}

// vision.init: the encoder starts from a kiln navit run's. At lr 0 the saved
// encoder is the navit's, byte for byte; the projector and decoder are the
// VLM's own. A navit of another shape, or a folder that is no run, is one line.
TEST(VlmCli, StartsItsEncoderFromANavitRun) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const fs::path dir = fs::temp_directory_path() / ("kiln-vlm-init-" + std::to_string(getpid()));
  fs::remove_all(dir);
  const Result navit = run("navit train -c " + std::string(KILN_SOURCE_DIR) + "/configs/fmnist-navit.toml" +
                           " --set vision.d_model=16 --set vision.n_layer=1 --set vision.n_head=2 --set vision.mlp_dim=32"
                           " --set train.max_steps=2 --set eval.test_images=8 --set run.dir=" + (dir / "navit").string());
  ASSERT_EQ(navit.status, 0) << navit.output;
  const std::string config = " -c " + std::string(KILN_SOURCE_DIR) + "/configs/fmnist-vlm.toml" + kTiny +
                             " --set vision.init=" + (dir / "navit").string();
  const Result vlm = run("vlm train" + config + " --set train.steps=1 --set train.lr=0 --set train.min_lr=0" +
                         " --set run.dir=" + (dir / "vlm").string());
  ASSERT_EQ(vlm.status, 0) << vlm.output;
  EXPECT_NE(vlm.output.find("vision encoder from " + (dir / "navit").string()), std::string::npos) << vlm.output;
  const auto started = tensor_bytes(dir / "vlm" / "model" / "model.safetensors");
  const auto trained = tensor_bytes(dir / "navit" / "model" / "model.safetensors");
  int64_t encoder_tensors = 0;
  for (const auto& [name, bytes] : started) {
    if (name.rfind("visual.", 0) != 0 || name.rfind("visual.merger.", 0) == 0) {
      EXPECT_EQ(trained.count(name), 0u) << name;
      continue;
    }
    ++encoder_tensors;
    ASSERT_EQ(trained.count(name), 1u) << name;
    EXPECT_EQ(bytes, trained.at(name)) << name;
  }
  EXPECT_GE(encoder_tensors, 13);  // patch embedding, one block's 12 tensors

  // Frozen, at a learning rate that moves everything else: the encoder stays
  // as loaded, the merger and the decoder train.
  const Result frozen = run("vlm train" + config + " --set train.freeze_vision=true --set train.steps=2" +
                            " --set train.warmup_steps=0 --set train.lr=0.01 --set run.dir=" + (dir / "frozen").string());
  ASSERT_EQ(frozen.status, 0) << frozen.output;
  EXPECT_NE(frozen.output.find("(frozen)"), std::string::npos) << frozen.output;
  const auto after = tensor_bytes(dir / "frozen" / "model" / "model.safetensors");
  int64_t moved = 0;
  for (const auto& [name, bytes] : after) {
    const bool encoder = name.rfind("visual.", 0) == 0 && name.rfind("visual.merger.", 0) != 0;
    if (encoder) EXPECT_EQ(bytes, trained.at(name)) << name;
    else moved += bytes != started.at(name);
  }
  EXPECT_GT(moved, 10);
  const Result random_frozen = run("vlm train -c " + std::string(KILN_SOURCE_DIR) + "/configs/fmnist-vlm.toml" + kTiny +
                                   " --set train.freeze_vision=true --set run.dir=" + (dir / "bad").string());
  EXPECT_NE(random_frozen.status, 0);
  EXPECT_NE(random_frozen.output.find("train.freeze_vision needs vision.init"), std::string::npos)
      << random_frozen.output;

  const Result heads = run("vlm train" + config + " --set vision.n_head=4 --set run.dir=" + (dir / "bad").string());
  EXPECT_NE(heads.status, 0);
  EXPECT_NE(heads.output.find("vision_config/num_heads = 2, this model's [vision] has 4"), std::string::npos)
      << heads.output;
  const Result nothing = run("vlm train -c " + std::string(KILN_SOURCE_DIR) + "/configs/fmnist-vlm.toml" + kTiny +
                             " --set vision.init=" + (dir / "none").string() + " --set run.dir=" + (dir / "bad").string());
  EXPECT_NE(nothing.status, 0);
  EXPECT_EQ(std::count(nothing.output.begin(), nothing.output.end(), '\n'), 1) << nothing.output;

  // train.init: the next stage of a curriculum starts from every tensor of a
  // vlm run (at lr 0 they are saved unchanged); a navit run, a model of
  // another shape and both inits at once are one line each.
  const std::string tiny_vlm = " -c " + std::string(KILN_SOURCE_DIR) + "/configs/fmnist-vlm.toml" + kTiny;
  const Result next = run("vlm train" + tiny_vlm + " --set train.init=" + (dir / "frozen").string() +
                          " --set train.steps=1 --set train.lr=0 --set train.min_lr=0 --set run.dir=" +
                          (dir / "next").string());
  ASSERT_EQ(next.status, 0) << next.output;
  EXPECT_NE(next.output.find("started from " + (dir / "frozen").string()), std::string::npos) << next.output;
  EXPECT_EQ(tensor_bytes(dir / "next" / "model" / "model.safetensors"), after);
  for (const std::string& bad : {" --set train.init=" + (dir / "navit").string(),
                                 " --set train.init=" + (dir / "frozen").string() + " --set model.n_layer=3",
                                 " --set train.init=" + (dir / "frozen").string() + " --set vision.init=" +
                                     (dir / "navit").string()}) {
    const Result refused = run("vlm train" + tiny_vlm + bad + " --set run.dir=" + (dir / "bad").string());
    EXPECT_NE(refused.status, 0) << bad;
    EXPECT_EQ(std::count(refused.output.begin(), refused.output.end(), '\n'), 1) << refused.output;
  }
  fs::remove_all(dir);
}

}  // namespace
