// Optimizers and clipping against torch.optim (tests/reference/optim.py);
// schedules against hand-computed values from the DeepSeek LLM recipe.
#include "kiln/optim/optimizer.hpp"

#include <gtest/gtest.h>

#include "kiln/optim/schedule.hpp"
#include "support/reference.hpp"

namespace kiln::optim {
namespace {

using testing::at;

std::map<std::string, Tensor> fresh_parameters(const io::TensorMap& ref) {
  return {{"w", at(ref, "w0").clone().set_requires_grad(true)}, {"b", at(ref, "b0").clone().set_requires_grad(true)}};
}

template <typename Optimizer>
void expect_trajectory(const std::string& name, Optimizer& opt, std::map<std::string, Tensor>& params,
                       const io::TensorMap& ref) {
  for (int i = 0; i < 5; ++i) {
    params["w"].set_grad(at(ref, "grad" + std::to_string(i) + ".w"));
    params["b"].set_grad(at(ref, "grad" + std::to_string(i) + ".b"));
    opt.step();
    const std::string step = name + ".step" + std::to_string(i);
    EXPECT_TRUE(testing::all_close(params["w"], at(ref, step + ".w"), 1e-5, 1e-6)) << step;
    EXPECT_TRUE(testing::all_close(params["b"], at(ref, step + ".b"), 1e-5, 1e-6)) << step;
  }
}

AdamWOptions torch_reference_options() {
  AdamWOptions o;
  o.lr = 0.01;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.eps = 1e-8;
  o.weight_decay = 0.1;
  return o;
}

TEST(Optimizers, AdamWMatchesTorch) {
  const io::TensorMap ref = testing::load_reference("optim");
  auto params = fresh_parameters(ref);
  AdamW opt(params, torch_reference_options());
  expect_trajectory("adamw", opt, params, ref);
}

TEST(Optimizers, AdamWStateRoundTripContinuesTheSameTrajectory) {
  const io::TensorMap ref = testing::load_reference("optim");
  auto params = fresh_parameters(ref);
  const AdamWOptions options = torch_reference_options();
  AdamW first(params, options);
  for (int i = 0; i < 2; ++i) {
    params["w"].set_grad(at(ref, "grad" + std::to_string(i) + ".w"));
    params["b"].set_grad(at(ref, "grad" + std::to_string(i) + ".b"));
    first.step();
  }
  AdamW resumed(params, options);
  resumed.load_state(first.state());
  EXPECT_EQ(resumed.steps(), 2);
  params["w"].set_grad(at(ref, "grad2.w"));
  params["b"].set_grad(at(ref, "grad2.b"));
  resumed.step();
  EXPECT_TRUE(testing::all_close(params["w"], at(ref, "adamw.step2.w"), 1e-5, 1e-6));
}

TEST(Optimizers, SgdMatchesTorch) {
  const io::TensorMap ref = testing::load_reference("optim");
  auto params = fresh_parameters(ref);
  Sgd opt(params, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
  expect_trajectory("sgd", opt, params, ref);
  auto nesterov_params = fresh_parameters(ref);
  Sgd nesterov(nesterov_params, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  expect_trajectory("sgd_nesterov", nesterov, nesterov_params, ref);
}

TEST(Optimizers, ClipGradNormMatchesTorch) {
  const io::TensorMap ref = testing::load_reference("optim");
  auto params = fresh_parameters(ref);
  auto times3 = [](const Tensor& t) {
    auto v = t.to_vector<float>();
    for (float& x : v) x *= 3;
    return Tensor::from<float>(v, t.shape());
  };
  params["w"].set_grad(times3(at(ref, "grad0.w")));
  params["b"].set_grad(times3(at(ref, "grad0.b")));
  EXPECT_NEAR(clip_grad_norm(params, 1.0), at(ref, "clip.norm").item(), 1e-5);
  EXPECT_TRUE(testing::all_close(params["w"].grad(), at(ref, "clip.w"), 1e-5, 1e-7));
  EXPECT_TRUE(testing::all_close(params["b"].grad(), at(ref, "clip.b"), 1e-5, 1e-7));
}

TEST(Schedules, DeepSeekMultiStepReferenceValues) {
  // peak 4.2e-4 over 2T tokens: steps of 1B tokens, 2000 total.
  const double peak = 4.2e-4;
  EXPECT_DOUBLE_EQ(deepseek_multistep(500, 20, 2000, peak), 4.2e-4);
  EXPECT_NEAR(deepseek_multistep(1600, 20, 2000, peak), 1.3272e-4, 1e-9);
  EXPECT_NEAR(deepseek_multistep(1700, 20, 2000, peak), 1.3272e-4, 1e-9);
  EXPECT_NEAR(deepseek_multistep(1800, 20, 2000, peak), 4.2e-5, 1e-12);
  EXPECT_NEAR(deepseek_multistep(1950, 20, 2000, peak), 4.2e-5, 1e-12);
  EXPECT_NEAR(deepseek_multistep(9, 20, 2000, peak), peak * 10 / 20, 1e-15);
}

TEST(Schedules, CosineAndLinear) {
  EXPECT_DOUBLE_EQ(warmup_cosine(0, 10, 110, 1.0, 0.1), 0.1);
  EXPECT_DOUBLE_EQ(warmup_cosine(10, 10, 110, 1.0, 0.1), 1.0);
  EXPECT_NEAR(warmup_cosine(60, 10, 110, 1.0, 0.1), 0.55, 1e-12);
  EXPECT_DOUBLE_EQ(warmup_cosine(500, 10, 110, 1.0, 0.1), 0.1);
  EXPECT_NEAR(warmup_linear(60, 10, 110, 1.0, 0.0), 0.5, 1e-12);
}

}  // namespace
}  // namespace kiln::optim
