// Resuming the image and step training loops: a run stopped after a saved
// state and resumed ends with exactly the weights of a run that never
// stopped; the metrics file holds each step once; a resume with another
// schedule, or with no saved state, is an error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <unistd.h>

#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/models/parameters.hpp"
#include "kiln/train/image_trainer.hpp"
#include "kiln/train/training_loop.hpp"
#include "kiln/train/training_state.hpp"
#include "support/run_files.hpp"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;
using kiln::testing::logged_steps;

class Resume : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_resume_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// 64 random 8×8 images in 4 classes.
ImageData toy_images() {
  ImageData data;
  data.images = Tensor::empty({64, 1, 8, 8}, DType::u8);
  data.labels = Tensor::empty({64}, DType::i64);
  data.classes = 4;
  uint32_t state = 12345;
  for (int64_t i = 0; i < data.images.numel(); ++i) {
    state = state * 1664525u + 1013904223u;
    data.images.data<uint8_t>()[i] = static_cast<uint8_t>(state >> 24);
  }
  for (int64_t i = 0; i < 64; ++i) data.labels.data<int64_t>()[i] = i % 4;
  return data;
}

// A linear classifier over the pixels.
std::map<std::string, Tensor> classifier(uint64_t seed) {
  return {{"weight", models::uniform_parameter({4, 64}, 0.1, seed, 0)},
          {"bias", models::uniform_parameter({4}, 0.1, seed, 1)}};
}

BatchLoss classifier_loss(const std::map<std::string, Tensor>& p) {
  return [p](const Tensor& images, const Tensor& labels, int64_t) {
    const Tensor x = ops::reshape(images, {images.size(0), 64});
    return ops::cross_entropy(ops::linear(x, p.at("weight"), p.at("bias")), labels);
  };
}

ImageTrainOptions image_options() {
  ImageTrainOptions o;
  o.epochs = 3;
  o.batch_size = 16;
  o.lr = 1e-2;
  o.warmup_steps = 2;
  o.augmentation = {.pad = 1, .flip = true};
  o.seed = 7;
  return o;
}

void expect_same_weights(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  for (const auto& [name, t] : a) {
    const auto x = t.to_vector<float>(), y = b.at(name).to_vector<float>();
    ASSERT_EQ(x.size(), y.size()) << name;
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], y[i]) << name << "[" << i << "]";
  }
}

TEST_F(Resume, ImageLoopStoppedAfterAnEpochEndsWithTheUninterruptedWeights) {
  const ImageData data = toy_images();
  const auto straight = classifier(1);
  train_images(data, straight, classifier_loss(straight), image_options(), dir_ / "straight");

  const auto stopped = classifier(1);
  const auto stop_in_epoch_two = [](int64_t epoch, nlohmann::json&) {
    if (epoch == 2) throw std::runtime_error("stopped");
  };
  EXPECT_THROW(train_images(data, stopped, classifier_loss(stopped), image_options(), dir_ / "resumed",
                            stop_in_epoch_two),
               std::runtime_error);
  const auto resumed = classifier(2);  // another init: every weight must come from the saved state
  ImageTrainOptions o = image_options();
  o.resume = true;
  const ImageTrainResult r = train_images(data, resumed, classifier_loss(resumed), o, dir_ / "resumed");
  EXPECT_EQ(r.steps, 12);
  expect_same_weights(straight, resumed);
  std::vector<int64_t> expected(12);
  for (int64_t i = 0; i < 12; ++i) expected[static_cast<size_t>(i)] = i + 1;
  EXPECT_EQ(logged_steps(dir_ / "resumed" / "metrics.jsonl"), expected);
}

TEST_F(Resume, ImageLoopRefusesAnotherScheduleOrAMissingState) {
  const ImageData data = toy_images();
  const auto p = classifier(1);
  ImageTrainOptions o = image_options();
  o.epochs = 1;
  train_images(data, p, classifier_loss(p), o, dir_ / "run");
  o.resume = true;
  o.batch_size = 8;
  try {
    train_images(data, p, classifier_loss(p), o, dir_ / "run");
    FAIL() << "a resume with another batch size must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch_size = 16"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train_images(data, p, classifier_loss(p), o, dir_ / "empty"), Error);
  const std::map<std::string, Tensor> other = {{"weight", models::uniform_parameter({4, 64}, 0.1, 1, 0)}};
  o.batch_size = 16;
  EXPECT_THROW(train_images(data, other, classifier_loss(p), o, dir_ / "run"), Error);
}

TEST_F(Resume, StepLoopStoppedAtAnEvaluationEndsWithTheUninterruptedWeights) {
  const auto make = [](double start) {
    Tensor w = Tensor::full({3}, start);
    w.set_requires_grad(true);
    return std::map<std::string, Tensor>{{"w", w}};
  };
  // The target moves with the step, as a randomly drawn batch would.
  const auto loss_of = [](const std::map<std::string, Tensor>& p) {
    return LoopHooks{.step = [p](int64_t step, nlohmann::json&) {
      const Tensor target = Tensor::full({3}, static_cast<double>(step % 5));
      const Tensor d = ops::sub(p.at("w"), target);
      const Tensor loss = ops::sum(ops::mul(d, d));
      return train::backward_loss(loss);
    }};
  };
  LoopOptions o;
  o.steps = 10;
  o.schedule = {.kind = "cosine", .warmup = 2, .lr = 0.1, .min_lr = 1e-6};
  o.adamw.weight_decay = 0.0;
  o.eval_every = 4;
  const auto straight = make(0.0);
  run_training_loop(straight, straight, loss_of(straight), o, dir_ / "straight");
  const auto stopped = make(0.0);
  LoopHooks stopping = loss_of(stopped);
  stopping.evaluate = [](int64_t step, nlohmann::json&) {
    if (step == 8) throw std::runtime_error("stopped");
  };
  EXPECT_THROW(run_training_loop(stopped, stopped, stopping, o, dir_ / "resumed"), std::runtime_error);
  const auto resumed = make(5.0);
  o.resume = true;
  run_training_loop(resumed, resumed, loss_of(resumed), o, dir_ / "resumed");
  expect_same_weights(straight, resumed);
  EXPECT_EQ(logged_steps(dir_ / "resumed" / "metrics.jsonl"), (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  o.steps = 12;
  EXPECT_THROW(run_training_loop(resumed, resumed, loss_of(resumed), o, dir_ / "resumed"), Error);
}

}  // namespace
}  // namespace kiln::train
