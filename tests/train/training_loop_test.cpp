// The one training loop: epochs and evaluation points, the records it
// writes, stop_after then --resume reaching the uninterrupted weights, the
// NaN stop naming its step, and the hooks a family may supply.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/base/error.hpp"
#include "kiln/train/training_loop.hpp"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;

class TrainingLoop : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_loop_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

std::map<std::string, Tensor> weights(double start) {
  Tensor w = Tensor::full({3}, start);
  w.set_requires_grad(true);
  return {{"w", w}};
}

// Σ (w − target)², the target moving with the step as a drawn batch would.
LoopHooks quadratic(const std::map<std::string, Tensor>& p) {
  return {.step = [p](int64_t step, nlohmann::json&) {
    const Tensor d = ops::sub(p.at("w"), Tensor::full({3}, static_cast<double>(step % 4)));
    const Tensor loss = ops::sum(ops::mul(d, d));
    return train::backward_loss(loss);
  }};
}

LoopOptions epoch_options() {
  LoopOptions o;
  o.steps = 7;
  o.steps_per_epoch = 3;
  o.schedule = {.kind = "linear", .warmup = 1, .lr = 0.05, .min_lr = 0.0};
  o.adamw.weight_decay = 0.0;
  return o;
}

std::vector<nlohmann::json> records(const fs::path& metrics) {
  std::vector<nlohmann::json> out;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST_F(TrainingLoop, EpochRunsEvaluateAtEachEpochEndAndLogEveryStep) {
  const auto p = weights(0.0);
  LoopHooks hooks = quadratic(p);
  std::vector<int64_t> evaluated;
  int64_t updates = 0;
  hooks.evaluate = [&](int64_t step, nlohmann::json& record) {
    evaluated.push_back(step);
    record["val_loss"] = 1.0;
  };
  hooks.after_update = [&](int64_t, nlohmann::json&) { ++updates; };
  const LoopResult r = run_training_loop(p, p, hooks, epoch_options(), dir_);
  EXPECT_EQ(r.last_step, 7);
  EXPECT_EQ(evaluated, (std::vector<int64_t>{3, 6, 7}));
  EXPECT_EQ(updates, 7);
  const auto lines = records(dir_ / "metrics.jsonl");
  ASSERT_EQ(lines.size(), 7u);
  const std::vector<int64_t> epochs{1, 1, 1, 2, 2, 2, 3};
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].at("step"), static_cast<int64_t>(i + 1));
    EXPECT_EQ(lines[i].at("epoch"), epochs[i]);
    for (const char* key : {"loss", "lr", "grad_norm", "items_per_s", "elapsed_s"}) EXPECT_TRUE(lines[i].contains(key)) << key;
    const bool epoch_end = i == 2 || i == 5 || i == 6;
    EXPECT_EQ(lines[i].contains("epoch_loss"), epoch_end) << i;
    EXPECT_EQ(lines[i].contains("val_loss"), epoch_end) << i;
  }
  // The epoch's mean of the logged losses.
  const double mean = (lines[3].at("loss").get<double>() + lines[4].at("loss").get<double>() +
                       lines[5].at("loss").get<double>()) / 3;
  EXPECT_DOUBLE_EQ(lines[5].at("epoch_loss").get<double>(), mean);
  // The schedule: linear warm-up over one step, then linear decay to 0 at step 7.
  EXPECT_DOUBLE_EQ(lines[0].at("lr").get<double>(), 0.05);
  EXPECT_DOUBLE_EQ(lines[6].at("lr").get<double>(), 0.05 * (1.0 - 5.0 / 6.0));
}

TEST_F(TrainingLoop, StopAfterThenResumeEndsWithTheUninterruptedWeights) {
  const auto straight = weights(0.0);
  run_training_loop(straight, straight, quadratic(straight), epoch_options(), dir_ / "straight");
  const auto stopped = weights(0.0);
  LoopOptions o = epoch_options();
  o.stop_after = 3;  // the end of epoch 1: a save point
  EXPECT_EQ(run_training_loop(stopped, stopped, quadratic(stopped), o, dir_ / "resumed").last_step, 3);
  const auto resumed = weights(9.0);  // the saved state replaces these
  o.stop_after = 0;
  o.resume = true;
  const LoopResult r = run_training_loop(resumed, resumed, quadratic(resumed), o, dir_ / "resumed");
  EXPECT_EQ(r.first_step, 3);
  EXPECT_EQ(straight.at("w").to_vector<float>(), resumed.at("w").to_vector<float>());
  std::vector<int64_t> steps;
  for (const auto& line : records(dir_ / "resumed" / "metrics.jsonl")) steps.push_back(line.at("step"));
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7}));
}

TEST_F(TrainingLoop, ANonFiniteLossStopsTheRunNamingTheStep) {
  const auto p = weights(0.0);
  LoopHooks hooks = quadratic(p);
  const auto finite = hooks.step;
  hooks.step = [finite](int64_t step, nlohmann::json& record) {
    StepLoss loss = finite(step, record);
    if (step == 4) loss.total = std::numeric_limits<double>::quiet_NaN();
    return loss;
  };
  try {
    run_training_loop(p, p, hooks, epoch_options(), dir_);
    FAIL() << "a NaN loss must stop the run";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("step 5: the training loss is nan"), std::string::npos) << message;
    EXPECT_NE(message.find("trainer_state"), std::string::npos) << message;  // saved after epoch 1
  }
  EXPECT_EQ(records(dir_ / "metrics.jsonl").size(), 4u);
}

TEST_F(TrainingLoop, AFamilyClipAndNoRunFolderWriteNothingOfTheirOwn) {
  const auto p = weights(0.0);
  LoopHooks hooks = quadratic(p);
  int64_t clips = 0;
  hooks.clip = [&](double max_norm) {
    ++clips;
    EXPECT_EQ(max_norm, 0.5);
    return 0.25;
  };
  LoopOptions o = epoch_options();
  o.grad_clip = 0.5;
  const fs::path before = fs::current_path();
  fs::create_directories(dir_ / "cwd");
  fs::current_path(dir_ / "cwd");
  const LoopResult r = run_training_loop(p, p, hooks, o, {});
  fs::current_path(before);
  EXPECT_EQ(clips, 7);
  EXPECT_EQ(r.last_record.at("grad_norm"), 0.25);
  EXPECT_TRUE(fs::is_empty(dir_ / "cwd"));
  o.resume = true;
  EXPECT_THROW(run_training_loop(p, p, hooks, o, {}), Error);  // nothing to resume from
}

TEST_F(TrainingLoop, AnUnknownScheduleIsRefusedBeforeAnyStep) {
  const auto p = weights(0.0);
  LoopOptions o = epoch_options();
  o.schedule.kind = "cosin";
  int64_t steps = 0;
  LoopHooks hooks = quadratic(p);
  const auto inner = hooks.step;
  hooks.step = [&](int64_t step, nlohmann::json& record) {
    ++steps;
    return inner(step, record);
  };
  EXPECT_THROW(run_training_loop(p, p, hooks, o, dir_), Error);
  EXPECT_EQ(steps, 0);
}

}  // namespace
}  // namespace kiln::train
