// Elementwise, reduction, view and matmul ops: forward and gradients against
// PyTorch (tests/reference/ops_basic.py), and against finite differences in f64.
#include <gtest/gtest.h>

#include <functional>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/gradcheck.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "support/reference.hpp"

namespace kiln {
namespace {

using autograd::TensorList;
using Fn = std::function<Tensor(const TensorList&)>;

struct Case {
  std::string name;
  int inputs;
  Fn fn;
};

std::vector<Case> cases() {
  return {
      {"add_broadcast", 2, [](const TensorList& x) { return ops::add(x[0], x[1]); }},
      {"sub_broadcast", 2, [](const TensorList& x) { return ops::sub(x[0], x[1]); }},
      {"mul_broadcast", 2, [](const TensorList& x) { return ops::mul(x[0], x[1]); }},
      {"div", 2, [](const TensorList& x) { return ops::div(x[0], x[1]); }},
      {"exp", 1, [](const TensorList& x) { return ops::exp(x[0]); }},
      {"log", 1, [](const TensorList& x) { return ops::log(x[0]); }},
      {"tanh", 1, [](const TensorList& x) { return ops::tanh(x[0]); }},
      {"sigmoid", 1, [](const TensorList& x) { return ops::sigmoid(x[0]); }},
      {"sum_dim1", 1, [](const TensorList& x) { return ops::sum(x[0], 1); }},
      {"mean_dim2_keep", 1, [](const TensorList& x) { return ops::mean(x[0], 2, true); }},
      {"max_dim0", 1, [](const TensorList& x) { return ops::max(x[0], 0); }},
      {"matmul_batched", 2, [](const TensorList& x) { return ops::matmul(x[0], x[1]); }},
      {"matmul_shared", 2, [](const TensorList& x) { return ops::matmul(x[0], x[1]); }},
      {"matmul_trans_b", 2, [](const TensorList& x) { return ops::matmul(x[0], x[1], false, true); }},
      {"matmul_trans_a", 2, [](const TensorList& x) { return ops::matmul(x[0], x[1], true, false); }},
      {"linear", 3, [](const TensorList& x) { return ops::linear(x[0], x[1], x[2]); }},
      {"permute_reshape", 1,
       [](const TensorList& x) { return ops::scale(ops::reshape(ops::permute(x[0], {2, 0, 1}), {4, 6}), 2.0); }},
      {"concat", 2, [](const TensorList& x) { return ops::concat({x[0], x[1]}, 1); }},
  };
}

class OpsBasic : public ::testing::TestWithParam<Case> {};

TEST_P(OpsBasic, MatchesPyTorch) {
  // Elementwise, reductions and views reproduce PyTorch's arithmetic closely: gradients at rtol 1e-5.
  testing::expect_matches_reference(testing::load_reference("ops_basic"), GetParam().name, GetParam().inputs,
                                    GetParam().fn, {.rtol = 1e-5, .atol = 1e-6, .grad_rtol = 1e-5, .grad_atol = 1e-5});
}

TEST_P(OpsBasic, GradientsMatchFiniteDifferences) {
  testing::expect_gradients_match_finite_differences(testing::load_reference("ops_basic"), GetParam().name,
                                                     GetParam().inputs, GetParam().fn);
}

INSTANTIATE_TEST_SUITE_P(All, OpsBasic, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(Autograd, AccumulatesAcrossUsesAndCalls) {
  Tensor x = Tensor::from<double>({1, 2, 3}, {3}).set_requires_grad(true);
  Tensor y = ops::sum(ops::mul(x, x));  // used twice in one graph
  backward(y);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 4, 6}));
  backward(ops::sum(x));  // a second backward accumulates
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3, 5, 7}));
}

TEST(Autograd, NoGradScopeRecordsNothing) {
  Tensor x = Tensor::from<float>({1, 2}, {2}).set_requires_grad(true);
  Tensor y;
  {
    NoGradGuard no_grad;
    y = ops::mul(x, x);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_THROW(backward(ops::sum(y)), Error);
}

TEST(Autograd, ShapeErrorsNameBothOperands) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 5});
  try {
    ops::matmul(a, b);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f32[2, 3]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("f32[4, 5]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
