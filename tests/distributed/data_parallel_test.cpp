// Data-parallel training over MPI, end to end through `mpirun kiln train`:
// 1, 2 and 4 ranks (oversubscribed) give the single-process loss curve for
// 50 steps; an MoE model with the routing bias updated from global loads
// too; a rank with bad input ends the job with its message; a killed rank
// ends the job within a bounded time and the run resumes from the last
// checkpoint on a different number of ranks. Skipped where kiln was built
// without MPI or mpirun is missing.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "kiln/io/safetensors.hpp"
#include "kiln/train/communicator.hpp"

#include "support/cli.hpp"

namespace {

namespace fs = std::filesystem;

using Outcome = kiln::testing::CommandResult;
using kiln::testing::run_shell;

bool have_mpirun() { return kiln::train::built_with_mpi() && run_shell("command -v mpirun").status == 0; }

std::string mpirun(int ranks) {
  return "OMP_NUM_THREADS=1 timeout -s KILL 180 mpirun --allow-run-as-root --oversubscribe --bind-to none -np " + std::to_string(ranks) + " ";
}

fs::path fresh(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("kiln_dp_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

std::string train_args(const fs::path& run, int steps, const std::string& extra = "") {
  const std::string text = std::string(KILN_TEST_DATA_DIR) + "/text/";
  return std::string(KILN_BINARY) + " train -c " + KILN_SOURCE_DIR + "/configs/tiny.toml --set run.dir=" +
         run.string() + " --set data.train=" + text + "kjv-train2000.txt --set data.valid=" + text +
         "kjv-test200.txt --set tokenizer.type=bytes --set train.batch_size=4 --set train.context=32 --set train.steps=" +
         std::to_string(steps) + " --set train.eval_every=25 --set train.eval_batches=4 --set train.checkpoint_every=10" +
         " --set train.log_every=1000 " + extra;
}

std::vector<nlohmann::json> metrics(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

void expect_same_curve(const fs::path& a, const fs::path& b, double tolerance) {
  const auto x = metrics(a), y = metrics(b);
  ASSERT_EQ(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(x[i]["loss"].get<double>(), y[i]["loss"].get<double>(), tolerance) << "step " << i + 1;
    if (x[i].contains("val_loss")) {
      EXPECT_NEAR(x[i]["val_loss"].get<double>(), y[i]["val_loss"].get<double>(), tolerance);
    }
  }
}

TEST(DataParallel, OneTwoAndFourRanksFollowTheSingleProcessCurve) {
  if (!have_mpirun()) GTEST_SKIP() << "kiln built without MPI or no mpirun";
  const fs::path single = fresh("single");
  ASSERT_EQ(run_shell("OMP_NUM_THREADS=1 " + train_args(single, 50)).status, 0);
  for (int ranks : {1, 2, 4}) {
    const fs::path run = fresh("ranks" + std::to_string(ranks));
    const Outcome out = run_shell(mpirun(ranks) + train_args(run, 50));
    ASSERT_EQ(out.status, 0) << out.output;
    // Reduction order differs (per-rank partial sums): float rounding only.
    expect_same_curve(single, run, 2e-4);
    if (ranks > 1) {
      EXPECT_EQ(metrics(run).back()["ranks"].get<int>(), ranks);
    }
    fs::remove_all(run);
  }
  fs::remove_all(single);
}

TEST(DataParallel, MoeBiasFollowsGlobalLoads) {
  if (!have_mpirun()) GTEST_SKIP() << "kiln built without MPI or no mpirun";
  const std::string moe =
      "--set train.attention=stream --set model.n_routed_experts=4 --set model.n_activated_experts=2 "
      "--set model.moe_inter_dim=32 --set model.first_k_dense=1 --set model.bias_update_speed=0.01";
  const fs::path single = fresh("moe1"), pair = fresh("moe2");
  ASSERT_EQ(run_shell("OMP_NUM_THREADS=1 " + train_args(single, 20, moe)).status, 0);
  const Outcome out = run_shell(mpirun(2) + train_args(pair, 20, moe));
  ASSERT_EQ(out.status, 0) << out.output;
  // Routing is discontinuous: a rounding difference that moves one token to
  // another expert shifts the loss by more than in a dense model.
  expect_same_curve(single, pair, 1e-3);
  const auto a = metrics(single), b = metrics(pair);
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i]["expert_load_max_mean"], b[i]["expert_load_max_mean"]) << "global loads at step " << i + 1;
  fs::remove_all(single);
  fs::remove_all(pair);
}

TEST(ExpertParallel, MatchesTheSingleProcessMoeAndResumesOnOneRank) {
  if (!have_mpirun()) GTEST_SKIP() << "kiln built without MPI or no mpirun";
  const std::string moe =
      "--set train.attention=stream --set model.n_routed_experts=4 --set model.n_activated_experts=2 "
      "--set model.moe_inter_dim=32 --set model.first_k_dense=1 --set model.bias_update_speed=0.01 "
      "--set model.mtp_depth=1";
  const fs::path single = fresh("ep1"), pair = fresh("ep2");
  ASSERT_EQ(run_shell("OMP_NUM_THREADS=1 " + train_args(single, 20, moe)).status, 0);
  // Rank 0 owns experts 0-1, rank 1 experts 2-3; token rows cross with MPI_Alltoallv.
  const Outcome out = run_shell(mpirun(2) + train_args(pair, 20, moe + " --set train.expert_parallel=true"));
  ASSERT_EQ(out.status, 0) << out.output;
  expect_same_curve(single, pair, 1e-3);
  // The checkpoint rank 0 wrote holds every expert, equal to the single-process weights.
  const auto a = kiln::io::load_safetensors(single / "checkpoints" / "latest" / "model.safetensors").tensors;
  const auto b = kiln::io::load_safetensors(pair / "checkpoints" / "latest" / "model.safetensors").tensors;
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) {
    ASSERT_EQ(b.count(name), 1u) << name;
    const auto x = tensor.to_vector<float>(), y = b.at(name).to_vector<float>();
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, static_cast<double>(std::abs(x[i] - y[i])));
    EXPECT_LT(worst, 1e-4) << name;
  }
  // Resume the expert-parallel run's step-10 checkpoint on 1 rank: same curve.
  fs::remove_all(pair / "checkpoints" / "step-0000020");
  fs::remove(pair / "checkpoints" / "latest");
  fs::create_directory_symlink("step-0000010", pair / "checkpoints" / "latest");
  {
    std::ifstream in(pair / "metrics.jsonl");
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line) && lines.size() < 10) lines.push_back(line);
    std::ofstream rewrite(pair / "metrics.jsonl", std::ios::trunc);
    for (const auto& l : lines) rewrite << l << "\n";
  }
  const Outcome resumed = run_shell("OMP_NUM_THREADS=1 " + train_args(pair, 20, moe + " --resume"));
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  expect_same_curve(single, pair, 1e-3);
  fs::remove_all(single);
  fs::remove_all(pair);
}

TEST(DataParallel, BadInputOnOneRankEndsTheJobWithItsMessage) {
  if (!have_mpirun()) GTEST_SKIP() << "kiln built without MPI or no mpirun";
  const fs::path run = fresh("bad");
  const auto start = std::chrono::steady_clock::now();
  // MPMD launch: rank 1 alone is given a training file that does not exist.
  const Outcome out = run_shell("OMP_NUM_THREADS=1 timeout -s KILL 180 mpirun --allow-run-as-root --oversubscribe --bind-to none -np 1 " +
                            train_args(run, 20) + " : -np 1 " + train_args(run, 20, "--set data.train=/nonexistent.txt"));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(out.status, 0);
  EXPECT_NE(out.output.find("error on rank 1 of 2"), std::string::npos) << out.output;
  EXPECT_NE(out.output.find("/nonexistent.txt"), std::string::npos) << out.output;
  EXPECT_LT(seconds, 60);
  fs::remove_all(run);
}

TEST(DataParallel, KilledRankEndsTheJobAndTheRunResumesOnOtherRanks) {
  if (!have_mpirun()) GTEST_SKIP() << "kiln built without MPI or no mpirun";
  const fs::path straight = fresh("straight"), run = fresh("killed");
  constexpr int kSteps = 150;
  ASSERT_EQ(run_shell("OMP_NUM_THREADS=1 " + train_args(straight, kSteps)).status, 0);
  const std::string log = (fs::temp_directory_path() / ("kiln_dp_killed_" + std::to_string(::getpid()) + ".log")).string();
  const std::string launch = mpirun(2) + train_args(run, kSteps) + " > " + log + " 2>&1; echo $? >> " + log;
  std::thread job([&] { std::system(launch.c_str()); });
  const auto start = std::chrono::steady_clock::now();
  while (!fs::exists(run / "checkpoints" / "step-0000010") &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(120))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(fs::exists(run / "checkpoints" / "step-0000010"));
  // Kill one kiln rank of this run outright (anchored on the binary: not mpirun, not a shell).
  const Outcome killed = run_shell("pkill -9 -n -f '^" + std::string(KILN_BINARY) + " train .*run.dir=" + run.string() + " '");
  EXPECT_EQ(killed.status, 0) << "no rank to kill: " << killed.output;
  const auto killed_at = std::chrono::steady_clock::now();
  job.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  EXPECT_LT(seconds, 60) << "the job must end, not hang";
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find("\n0\n", text.size() > 3 ? text.size() - 3 : 0), std::string::npos) << "non-zero exit: " << text;
  ASSERT_FALSE(fs::exists(run / "checkpoints" / "step-0000150")) << "the run finished before the kill";
  // Resume on one rank from whatever checkpoint was complete: the curve continues.
  const Outcome resumed = run_shell("OMP_NUM_THREADS=1 " + train_args(run, kSteps, "--resume"));
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  const auto a = metrics(straight), b = metrics(run);
  ASSERT_EQ(a.back()["step"], kSteps);
  ASSERT_EQ(b.back()["step"], kSteps);
  EXPECT_NEAR(a.back()["loss"].get<double>(), b.back()["loss"].get<double>(), 2e-4);
  fs::remove(log);
  fs::remove_all(straight);
  fs::remove_all(run);
}

}  // namespace
