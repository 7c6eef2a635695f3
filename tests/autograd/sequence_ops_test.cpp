// conv1d and the GRU against PyTorch (tests/reference/ops_sequence.py) and
// finite differences.
#include <gtest/gtest.h>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/gradcheck.hpp"
#include "kiln/autograd/ops/conv.hpp"
#include "kiln/autograd/ops/gru.hpp"
#include "support/reference.hpp"

namespace kiln {
namespace {

using autograd::TensorList;

struct Case {
  std::string name;
  int inputs;
  std::function<Tensor(const TensorList&)> fn;
};

std::vector<Case> cases() {
  return {
      {"conv1d", 3, [](const TensorList& x) { return ops::conv1d(x[0], x[1], x[2], 2, 1); }},
      {"conv1d_cpc", 3, [](const TensorList& x) { return ops::conv1d(x[0], x[1], x[2], 5, 3); }},
      {"gru", 6, [](const TensorList& x) { return ops::gru(x[0], x[1], x[2], x[3], x[4], x[5]).output; }},
  };
}

class SequenceOps : public ::testing::TestWithParam<Case> {};

TEST_P(SequenceOps, MatchesPyTorch) {
  testing::expect_matches_reference(testing::load_reference("ops_sequence"), GetParam().name, GetParam().inputs,
                                    GetParam().fn);
}

TEST_P(SequenceOps, GradientsMatchFiniteDifferences) {
  testing::expect_gradients_match_finite_differences(testing::load_reference("ops_sequence"), GetParam().name,
                                                     GetParam().inputs, GetParam().fn);
}

INSTANTIATE_TEST_SUITE_P(All, SequenceOps, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(SequenceOps, ShapeErrors) {
  EXPECT_THROW(ops::conv1d(Tensor::zeros({1, 2, 8}), Tensor::zeros({3, 4, 3})), Error);
  EXPECT_THROW(ops::conv1d(Tensor::zeros({1, 2, 2}), Tensor::zeros({3, 2, 5})), Error);
  EXPECT_THROW(ops::gru(Tensor::zeros({1, 3, 2}), {}, Tensor::zeros({9, 5}), Tensor::zeros({9, 3}), {}, {}), Error);
}

}  // namespace
}  // namespace kiln
