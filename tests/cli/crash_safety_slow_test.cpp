// Crash safety: `kiln train` killed with SIGKILL at 24 moments spread over a
// run that saves a checkpoint every second step (so many kills land while a
// checkpoint or the metrics file is being written). After each kill,
// `--resume` (or a fresh start when no checkpoint was complete yet) must
// finish the run with weights identical byte for byte to a run that was never
// killed, each step logged once, and no staging folder or temporary left.
// Label `slow` (about a minute): bench/run.sh runs it, CI does not.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/cli.hpp"
#include "support/run_files.hpp"

namespace {

namespace fs = std::filesystem;
using kiln::testing::logged_steps;
using kiln::testing::file_bytes;
using kiln::testing::run_kiln;

class CrashSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_crash_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string args(const fs::path& run) const {
    const std::string text = std::string(KILN_TEST_DATA_DIR) + "/text/";
    return "train -c configs/tiny.toml --set data.train=" + text + "kjv-train2000.txt --set data.valid=" + text +
           "kjv-test200.txt --set tokenizer.dir=" + (dir_ / "tokenizer").string() + " --set run.dir=" + run.string() +
           " --set train.steps=40 --set train.checkpoint_every=2 --set train.eval_every=20 --set train.log_every=2";
  }

  // Starts `kiln train` and kills it with SIGKILL after `delay`; returns whether it was still running.
  bool kill_after(const fs::path& run, std::chrono::milliseconds delay) const {
    const std::string command = "cd " + std::string(KILN_SOURCE_DIR) + " && OMP_NUM_THREADS=1 exec " +
                                std::string(KILN_BINARY) + " " + args(run) + " > " + (run.string() + ".log") + " 2>&1";
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    std::this_thread::sleep_for(delay);
    const bool running = ::kill(pid, SIGKILL) == 0;
    int status = 0;
    ::waitpid(pid, &status, 0);
    return running && WIFSIGNALED(status);
  }

  fs::path dir_;
};

std::vector<std::string> leftovers(const fs::path& run) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(run)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".partial-") != std::string::npos || name.find(".old-") != std::string::npos ||
        name.find(".tmp.") != std::string::npos)
      found.push_back(entry.path().string());
  }
  return found;
}

TEST_F(CrashSafety, EveryKilledRunResumesToTheUninterruptedWeights) {
  ASSERT_EQ(run_kiln("tokenizer train --type bytes -o " + (dir_ / "tokenizer").string()).status, 0);
  const fs::path straight = dir_ / "straight";
  const auto start = std::chrono::steady_clock::now();
  const auto clean = run_kiln(args(straight));
  ASSERT_EQ(clean.status, 0) << clean.output;
  const auto run_time = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  const std::string expected = file_bytes(straight / "checkpoints" / "latest" / "model.safetensors");
  ASSERT_FALSE(expected.empty());
  std::vector<int64_t> all_steps;
  for (int64_t s = 1; s <= 40; ++s) all_steps.push_back(s);

  constexpr int kTrials = 24;
  int killed = 0, resumed = 0, restarted = 0, with_leftovers = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    const fs::path run = dir_ / ("trial" + std::to_string(trial));
    // Spread over the whole run, the process start included.
    const auto delay = std::chrono::milliseconds(run_time.count() * (trial + 1) / (kTrials + 1));
    killed += kill_after(run, delay);
    with_leftovers += fs::exists(run) && !leftovers(run).empty();
    auto finish = run_kiln(args(run) + " --resume");
    if (finish.status != 0 && finish.output.find("has no checkpoint yet") != std::string::npos) {
      ++restarted;
      finish = run_kiln(args(run));
    } else {
      ++resumed;
    }
    ASSERT_EQ(finish.status, 0) << "trial " << trial << ": " << finish.output;
    EXPECT_EQ(file_bytes(run / "checkpoints" / "latest" / "model.safetensors"), expected) << "trial " << trial;
    EXPECT_EQ(logged_steps(run / "metrics.jsonl"), all_steps) << "trial " << trial;
    EXPECT_EQ(leftovers(run), std::vector<std::string>{}) << "trial " << trial;
  }
  std::printf("crash safety: %d trials over a %lld ms run, %d killed while running, %d left staging files behind, "
              "%d resumed from a checkpoint, %d restarted (no checkpoint yet)\n",
              kTrials, static_cast<long long>(run_time.count()), killed, with_leftovers, resumed, restarted);
  EXPECT_GE(killed, kTrials - 2) << "the kills must land while the run is alive";
}

}  // namespace
