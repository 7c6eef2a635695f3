// CPC and online detection as a user runs them, on a tiny synthesised speech
// set and stream set: `kiln data speech|streams`, `kiln train` with
// model.arch = cpc / oadtr / gru (log-mel and CPC features), `kiln probe`,
// `kiln detect` on a split and on a WAV file; wrong WAV formats and manifests
// naming missing files end in one clear line and a non-zero exit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "support/cli.hpp"

namespace {

namespace fs = std::filesystem;

using Result = kiln::testing::CommandResult;

Result run(const std::string& args) { return kiln::testing::run_kiln(args); }

bool one_error_line(const Result& r) {
  return r.status == 1 && r.output.rfind("kiln: error: ", 0) == 0 && r.output.find('\n') == r.output.size() - 1;
}

// A 16-bit PCM WAV header + silence, at any rate and channel count.
void write_pcm_wav(const fs::path& path, int rate, int channels, int frames) {
  std::ofstream out(path, std::ios::binary);
  const auto put = [&](uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.put(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  const auto data_bytes = static_cast<uint32_t>(frames * channels * 2);
  out.write("RIFF", 4);
  put(36 + data_bytes, 4);
  out.write("WAVEfmt ", 8);
  put(16, 4);
  put(1, 2);
  put(static_cast<uint32_t>(channels), 2);
  put(static_cast<uint32_t>(rate), 4);
  put(static_cast<uint32_t>(rate * channels * 2), 4);
  put(static_cast<uint32_t>(channels * 2), 2);
  put(16, 2);
  out.write("data", 4);
  put(data_bytes, 4);
  for (uint32_t i = 0; i < data_bytes; ++i) out.put(0);
}

class SpeechCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / "kiln-speech-cli-test";
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    text_ = dir_ / "verses.txt";
    std::ofstream text(text_);
    for (int i = 0; i < 40; ++i)
      text << "and the " << (i % 2 ? "people" : "children") << " went up unto the mountain on day " << i
           << " and rested there\n";
  }
  static fs::path dir_, text_;
};
fs::path SpeechCli::dir_, SpeechCli::text_;

const std::string kTinyCpc =
    " --set train.steps=3 --set train.eval_every=3 --set train.batch_size=2 --set train.eval_windows=2"
    " --set model.channels=16 --set model.context=16 --set model.negatives=8";
const std::string kTinyOadtr =
    " --set train.steps=3 --set train.eval_every=3 --set train.batch_size=4 --set model.d_model=16"
    " --set model.enc_heads=2 --set model.dec_heads=2 --set model.enc_layers=1 --set model.dec_layers=1"
    " --set model.queries=2 --set model.window=8";

TEST_F(SpeechCli, CpcPretrainsAndProbes) {
  const fs::path speech = dir_ / "speech";
  Result r = run("data speech --text " + text_.string() + " --out " + speech.string() + " --speakers 3 --utterances 5");
  ASSERT_EQ(r.status, 0) << r.output;
  r = run("train -c configs/speech-cpc.toml --set data.speech=" + speech.string() + " --set run.dir=" +
          (dir_ / "cpc").string() + kTinyCpc);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("InfoNCE accuracy per step k = 1..12"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "cpc" / "model" / "model.safetensors"));
  EXPECT_TRUE(fs::exists(dir_ / "cpc" / "model" / "config.json"));
  r = run("probe --run " + (dir_ / "cpc").string() + " --data " + speech.string() + " --epochs 1");
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* row : {"CPC c_t (trained)", "CPC c_t (random init)", "log-mel (40)"})
    EXPECT_NE(r.output.find(row), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "cpc" / "probe.json"));

  // A manifest naming a file that is not there.
  fs::remove(speech / "wav" / "s01" / "000.wav");
  r = run("probe --features logmel --data " + speech.string());
  EXPECT_TRUE(one_error_line(r)) << r.output;
}

TEST_F(SpeechCli, DetectorsTrainScoreAndDetect) {
  const fs::path streams = dir_ / "streams";
  Result r = run("data streams --text " + text_.string() + " --out " + streams.string() + " --streams 2 --seconds 6");
  ASSERT_EQ(r.status, 0) << r.output;
  r = run("train -c configs/streams-oadtr.toml --set data.streams=" + streams.string() + " --set run.dir=" +
          (dir_ / "oadtr").string() + kTinyOadtr);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("per-frame mAP"), std::string::npos) << r.output;
  const std::string gru = "train -c configs/streams-gru.toml --set data.streams=" + streams.string() + " --set run.dir=" +
                          (dir_ / "gru").string() +
                          " --set train.steps=3 --set train.eval_every=3 --set model.hidden=8 --set model.window=8";
  r = run(gru);
  ASSERT_EQ(r.status, 0) << r.output;
  r = run(gru + " --resume");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("resumed at step 3/3"), std::string::npos) << r.output;

  r = run("detect --run " + (dir_ / "oadtr").string() + " --streams " + streams.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("AP per class:  zero"), std::string::npos) << r.output;
  const fs::path stream = streams / "streams" / "0000.wav";
  r = run("detect --run " + (dir_ / "gru").string() + " " + stream.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("online: 600 frames one at a time"), std::string::npos) << r.output;

  write_pcm_wav(dir_ / "8k.wav", 8000, 1, 800);
  r = run("detect --run " + (dir_ / "gru").string() + " " + (dir_ / "8k.wav").string());
  EXPECT_TRUE(one_error_line(r)) << r.output;
  EXPECT_NE(r.output.find("8000"), std::string::npos) << r.output;
  write_pcm_wav(dir_ / "stereo.wav", 16000, 2, 1600);
  r = run("detect --run " + (dir_ / "gru").string() + " " + (dir_ / "stereo.wav").string());
  EXPECT_TRUE(one_error_line(r)) << r.output;
  std::ofstream(dir_ / "not.wav") << "this is not audio";
  r = run("detect --run " + (dir_ / "gru").string() + " " + (dir_ / "not.wav").string());
  EXPECT_TRUE(one_error_line(r)) << r.output;
  r = run("detect --run " + (dir_ / "nothing").string() + " --streams " + streams.string());
  EXPECT_TRUE(one_error_line(r)) << r.output;

  // A hostile config.json: sizes past any machine, wrong types, an empty class list. Each is one line
  // naming the field (these ended in SIGSEGV, bad_alloc or a JSON "internal error" before).
  const fs::path config = dir_ / "gru" / "model" / "config.json";
  std::string good;
  {
    std::ifstream in(config);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (const auto& [from, to, named] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"\"hidden\": 8", "\"hidden\": 9223372036854775807", "hidden"},
           {"\"window\": 8", "\"window\": -3", "window"},
           {"\"hidden\": 8", "\"hidden\": \"8\"", "hidden"},
           {"\"n_mels\": 40", "\"n_mels\": -1", "n_mels"}}) {
    const size_t at = good.find(from);
    ASSERT_NE(at, std::string::npos) << from << " in " << good;
    std::ofstream(config) << std::string(good).replace(at, from.size(), to);
    r = run("detect --run " + (dir_ / "gru").string() + " " + stream.string());
    EXPECT_TRUE(one_error_line(r)) << to << ": " << r.output;
    EXPECT_NE(r.output.find(named), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
  }
  const size_t classes_at = good.find("\"classes\": [");
  ASSERT_NE(classes_at, std::string::npos) << good;
  std::ofstream(config) << std::string(good).replace(classes_at, good.find(']', classes_at) + 1 - classes_at,
                                                     "\"classes\": []");
  r = run("detect --run " + (dir_ / "gru").string() + " " + stream.string());
  EXPECT_TRUE(one_error_line(r)) << r.output;
  std::ofstream(config) << good;
}

TEST_F(SpeechCli, DetectorOnCpcFeatures) {
  const fs::path speech = dir_ / "speech2", streams = dir_ / "streams2";
  ASSERT_EQ(run("data speech --text " + text_.string() + " --out " + speech.string() + " --speakers 2 --utterances 4").status, 0);
  ASSERT_EQ(run("data streams --text " + text_.string() + " --out " + streams.string() + " --streams 2 --seconds 4").status, 0);
  Result r = run("train -c configs/speech-cpc.toml --set data.speech=" + speech.string() + " --set run.dir=" +
                 (dir_ / "cpc2").string() + kTinyCpc);
  ASSERT_EQ(r.status, 0) << r.output;
  r = run("train -c configs/streams-oadtr.toml --set data.streams=" + streams.string() + " --set run.dir=" +
          (dir_ / "oadtr-cpc").string() + " --set data.features=cpc --set data.cpc_run=" + (dir_ / "cpc2").string() +
          kTinyOadtr);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("oadtr on cpc features"), std::string::npos) << r.output;
}

}  // namespace
