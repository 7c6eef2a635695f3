// Neural-network ops, second set (tests/reference/ops_nn_more.py): every op of
// ops_nn in f64 against PyTorch, f32 edge cases (large logits, ignore_index
// with smoothing, odd sizes, LayerNorm with a large offset, [T, H, D] RoPE at
// large positions, i32 embedding ids, saturating activations), and the
// properties PyTorch cannot check: Philox dropout masks, RoPE relativity and
// inverse, cross-entropy memory, thread-count independence of norm gradients.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/gradcheck.hpp"
#include "kiln/autograd/ops/activation.hpp"
#include "kiln/autograd/ops/dropout.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/embedding.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/autograd/ops/rope.hpp"
#include "kiln/autograd/ops/softmax.hpp"
#include "kiln/tensor/storage.hpp"
#include "support/reference.hpp"

namespace kiln {
namespace {

using autograd::TensorList;
using Fn = std::function<Tensor(const TensorList&, const io::TensorMap&)>;

const io::TensorMap& reference() {
  static const io::TensorMap ref = testing::load_reference("ops_nn_more");
  return ref;
}

struct Case {
  std::string name;  // key prefix in the reference file
  int inputs;
  Fn fn;
  bool gradcheck = true;
};

std::vector<Case> cases() {
  using R = const io::TensorMap&;
  ops::CrossEntropyOptions ignore7;
  ignore7.ignore_index = 7;
  ignore7.label_smoothing = 0.2;
  return {
      {"layer_norm.f64", 3, [](const TensorList& x, R) { return ops::layer_norm(x[0], x[1], x[2], 1e-5); }},
      {"rms_norm.f64", 2, [](const TensorList& x, R) { return ops::rms_norm(x[0], x[1], 1e-6); }},
      {"gelu_erf.f64", 1, [](const TensorList& x, R) { return ops::gelu(x[0]); }},
      {"gelu_tanh.f64", 1, [](const TensorList& x, R) { return ops::gelu(x[0], ops::GeluApproximation::tanh); }},
      {"silu.f64", 1, [](const TensorList& x, R) { return ops::silu(x[0]); }},
      {"swiglu.f64", 2, [](const TensorList& x, R) { return ops::swiglu(x[0], x[1]); }},
      {"softmax.f64", 1, [](const TensorList& x, R) { return ops::softmax(x[0]); }},
      {"log_softmax.f64", 1, [](const TensorList& x, R) { return ops::log_softmax(x[0]); }},
      {"embedding.f64", 1,
       [](const TensorList& x, R r) { return ops::embedding(x[0], testing::at(r, "embedding.f64.ids")); }},
      {"cross_entropy.f64", 1,
       [](const TensorList& x, R r) {
         return ops::cross_entropy(x[0], testing::at(r, "cross_entropy.f64.targets"), {.label_smoothing = 0.1});
       }},
      {"mse.f64", 2, [](const TensorList& x, R) { return ops::mse_loss(x[0], x[1]); }},
      {"rope_interleaved.f64", 1,
       [](const TensorList& x, R r) { return ops::rope(x[0], testing::at(r, "rope.f64.positions"), 1e4, true); }},
      {"rope_half.f64", 1,
       [](const TensorList& x, R r) { return ops::rope(x[0], testing::at(r, "rope.f64.positions"), 1e4, false); }},
      {"softmax_large", 1, [](const TensorList& x, R) { return ops::softmax(x[0]); }},
      {"log_softmax_large", 1, [](const TensorList& x, R) { return ops::log_softmax(x[0]); }},
      {"cross_entropy_wide", 1,
       [](const TensorList& x, R r) {
         return ops::cross_entropy(x[0], testing::at(r, "cross_entropy_wide.targets"), {.label_smoothing = 0.1});
       },
       false},  // 24 × 1003 logits: covered by PyTorch; element-wise differences would take seconds
      {"cross_entropy_ignore7", 1,
       [ignore7](const TensorList& x, R r) {
         return ops::cross_entropy(x[0], testing::at(r, "cross_entropy_ignore7.targets"), ignore7);
       }},
      {"layer_norm_offset", 3, [](const TensorList& x, R) { return ops::layer_norm(x[0], x[1], x[2], 1e-5); }},
      {"rms_norm_odd", 2, [](const TensorList& x, R) { return ops::rms_norm(x[0], x[1], 1e-5); }},
      {"rope_3d_interleaved", 1,
       [](const TensorList& x, R r) { return ops::rope(x[0], testing::at(r, "rope_3d.positions"), 1e4, true); }},
      {"rope_3d_half", 1,
       [](const TensorList& x, R r) { return ops::rope(x[0], testing::at(r, "rope_3d.positions"), 5e5, false); }},
      {"embedding_i32", 1,
       [](const TensorList& x, R r) { return ops::embedding(x[0], testing::at(r, "embedding_i32.ids")); }},
      {"gelu_erf_wide", 1, [](const TensorList& x, R) { return ops::gelu(x[0]); }},
      {"gelu_tanh_wide", 1, [](const TensorList& x, R) { return ops::gelu(x[0], ops::GeluApproximation::tanh); }},
      {"silu_wide", 1, [](const TensorList& x, R) { return ops::silu(x[0]); }},
      {"swiglu_wide", 2, [](const TensorList& x, R) { return ops::swiglu(x[0], x[1]); }},
  };
}

bool is_f64(const std::string& name) { return name.ends_with(".f64"); }

class OpsNnMore : public ::testing::TestWithParam<Case> {};

TEST_P(OpsNnMore, MatchesPyTorch) {
  const Case& c = GetParam();
  const io::TensorMap& ref = reference();
  // f64: both sides evaluate the same formulas in double; only summation
  // order differs, so 1e-10 leaves five orders of magnitude of headroom.
  // f32: rtol 1e-5 as everywhere. Gradients pass through one more product
  // and a row reduction whose order differs from PyTorch's: rtol 1e-4 (the
  // same tolerance as ops_nn_test); the absolute floor covers entries that
  // cancel to ~0.
  const double rtol = is_f64(c.name) ? 1e-10 : 1e-5;
  double atol = is_f64(c.name) ? 1e-12 : 1e-6;
  double grad_rtol = is_f64(c.name) ? 1e-10 : 1e-4, grad_atol = is_f64(c.name) ? 1e-12 : 1e-5;
  if (c.name == "layer_norm_offset") {
    // Reference is exact (f64 from the same f32 inputs). |x| ≈ 300 with σ ≈ 1:
    // half an f32 ulp of x (1.5e-5) is already that much of x̂, times |w| ≲ 3.
    // PyTorch's own f32 layer_norm is 9.7e-5 off the exact output here.
    atol = 1e-4;
    grad_atol = 1e-4;
  }
  testing::expect_matches_reference(ref, c.name, c.inputs, [&](const TensorList& x) { return c.fn(x, ref); },
                                    {.rtol = rtol, .atol = atol, .grad_rtol = grad_rtol, .grad_atol = grad_atol});
}

TEST_P(OpsNnMore, GradientsMatchFiniteDifferences) {
  const Case& c = GetParam();
  if (!c.gradcheck) GTEST_SKIP() << "covered by the PyTorch comparison; too large for element-wise differences";
  const io::TensorMap& ref = reference();
  testing::expect_gradients_match_finite_differences(ref, c.name, c.inputs,
                                                     [&](const TensorList& x) { return c.fn(x, ref); });
}

INSTANTIATE_TEST_SUITE_P(All, OpsNnMore, ::testing::ValuesIn(cases()), [](const auto& info) {
  std::string name = info.param.name;
  for (char& ch : name)
    if (ch == '.') ch = '_';
  return name;
});

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CrossEntropy, SumAndCountGiveTokenWeightedMeans) {
  const io::TensorMap& ref = reference();
  const Tensor& targets = testing::at(ref, "cross_entropy_sum.targets");
  Tensor logits = testing::input_leaf(ref, "cross_entropy_sum.in0");
  const ops::CrossEntropySum s = ops::cross_entropy_sum(logits, targets, {.label_smoothing = 0.1});
  EXPECT_EQ(s.count, testing::at(ref, "cross_entropy_sum.count").to_vector<int64_t>()[0]);
  EXPECT_TRUE(testing::all_close(s.sum, testing::at(ref, "cross_entropy_sum.out"), 1e-5, 1e-6));
  backward(s.sum, testing::at(ref, "cross_entropy_sum.dout"));
  EXPECT_TRUE(testing::all_close(logits.grad(), testing::at(ref, "cross_entropy_sum.grad0"), 1e-4, 1e-5));
  // sum / count is the mean; a fixed normalizer divides the same sum.
  const Tensor mean = ops::cross_entropy(logits, targets, {.label_smoothing = 0.1});
  EXPECT_NEAR(s.sum.item() / static_cast<double>(s.count), mean.item(), 1e-6);
  ops::CrossEntropyOptions by_twelve{.label_smoothing = 0.1, .normalizer = 12};
  EXPECT_NEAR(ops::cross_entropy(logits, targets, by_twelve).item(), s.sum.item() / 12, 1e-6);
  EXPECT_NE(message_of([&] { ops::cross_entropy_sum(logits, targets, by_twelve); }).find("normalizer"),
            std::string::npos);
}

TEST(CrossEntropy, AllTargetsIgnoredGivesZeroLossAndGradient) {
  Tensor logits = Tensor::from<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  logits.set_requires_grad(true);
  const Tensor loss = ops::cross_entropy(logits, Tensor::from<int64_t>({-100, -100}, {2}), {.label_smoothing = 0.3});
  EXPECT_EQ(loss.item(), 0.0);
  backward(loss);
  EXPECT_EQ(logits.grad().to_vector<float>(), std::vector<float>(6, 0.0f));
}

TEST(CrossEntropy, KeepsNoSecondCopyOfTheLogits) {
  // [512, 8192] f32 logits = 16 MiB. Forward may keep one f64 log-sum-exp per
  // row (4 KiB); backward writes softmax − target into one logits-sized
  // gradient. A second logits-sized buffer appears during backward because
  // the engine clones the first gradient that reaches a leaf into its .grad
  // (autograd/node.cpp, AccumulateGrad) — not this op; with logits produced by
  // a matmul, as in a model, that clone does not happen.
  const int64_t n = 512, v = 8192, logits_bytes = n * v * 4;
  Tensor logits = Tensor::zeros({n, v});
  logits.set_requires_grad(true);
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t[static_cast<size_t>(i)] = (i * 37) % v;
  const Tensor targets = Tensor::from<int64_t>(t, {n});
  release_cached_memory();
  reset_peak_memory();
  const int64_t before = memory_stats().live_bytes;
  const Tensor loss = ops::cross_entropy(logits, targets, {.label_smoothing = 0.1});
  const int64_t forward_extra = memory_stats().peak_bytes - before;
  EXPECT_LE(forward_extra, n * 8 + (64 << 10));
  EXPECT_NEAR(loss.item(), std::log(static_cast<double>(v)), 1e-4);  // uniform logits
  release_cached_memory();
  reset_peak_memory();
  const int64_t before_backward = memory_stats().live_bytes;
  backward(loss);
  const int64_t backward_extra = memory_stats().peak_bytes - before_backward;
  EXPECT_LE(backward_extra, 2 * logits_bytes + (64 << 10));
}

TEST(Embedding, OutOfRangeIdErrorNamesTheIdAndTheVocabulary) {
  const Tensor w = Tensor::zeros({5, 3});
  const std::string high = message_of([&] { ops::embedding(w, Tensor::from<int32_t>({1, 7, 2}, {3})); });
  EXPECT_NE(high.find("id 7"), std::string::npos) << high;
  EXPECT_NE(high.find("5"), std::string::npos) << high;
  const std::string negative = message_of([&] { ops::embedding(w, Tensor::from<int64_t>({-1}, {1})); });
  EXPECT_NE(negative.find("id -1"), std::string::npos) << negative;
  EXPECT_NE(message_of([&] { ops::embedding(w, Tensor::zeros({2})); }).find("i32 or i64"), std::string::npos);
}

TEST(Norm, GradientsDoNotDependOnTheThreadCount) {
  // 512 × 768: large enough for the parallel path. Parameter gradients are
  // summed over fixed row blocks, so 1 and 2 threads give identical bits.
  const int64_t rows = 512, d = 768;
  auto run = [&](int threads, bool layer) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> xs(static_cast<size_t>(rows * d)), gs(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) {
      xs[i] = philox_normal({3, 1}, i);
      gs[i] = philox_normal({3, 2}, i);
    }
    Tensor x = Tensor::from<float>(xs, {rows, d}), w = Tensor::ones({d}), b = Tensor::zeros({d});
    x.set_requires_grad(true);
    w.set_requires_grad(true);
    b.set_requires_grad(true);
    const Tensor y = layer ? ops::layer_norm(x, w, b, 1e-5) : ops::rms_norm(x, w, 1e-6);
    backward(y, Tensor::from<float>(gs, {rows, d}));
    omp_set_num_threads(saved);
    return std::vector<std::vector<float>>{y.to_vector<float>(), x.grad().to_vector<float>(),
                                           w.grad().to_vector<float>(),
                                           layer ? b.grad().to_vector<float>() : std::vector<float>()};
  };
  for (bool layer : {true, false}) EXPECT_EQ(run(1, layer), run(2, layer)) << (layer ? "layer_norm" : "rms_norm");
}

TEST(Dropout, ElementIUsesPhiloxCounterI) {
  // The mask cannot be compared with PyTorch's (another generator); what is
  // checked is the contract: element i is kept iff philox_uniform(key, i) ≥ p.
  const PhiloxKey key{11, 5};
  const double p = 0.3;
  for (DType dtype : {DType::f32, DType::f64}) {
    const int64_t n = 1003;  // not a multiple of the 4-word Philox block
    const Tensor y = ops::dropout(Tensor::ones({n}).to(dtype), p, key);
    const auto v = y.to_vector<double>();
    for (int64_t i = 0; i < n; ++i) {
      const bool kept = philox_uniform(key, static_cast<uint64_t>(i)) >= static_cast<float>(p);
      ASSERT_NEAR(v[static_cast<size_t>(i)], kept ? 1.0 / (1.0 - p) : 0.0, 1e-6) << "element " << i;
    }
  }
  const Tensor x = Tensor::ones({8});
  EXPECT_TRUE(ops::dropout(x, 0.0, key).same_data(x));
  EXPECT_NE(message_of([&] { ops::dropout(x, 1.0, key); }).find("[0, 1)"), std::string::npos);
}

TEST(Dropout, GradientIsTheMaskOverKeepProbabilityInF64) {
  Tensor x = Tensor::from<double>({0.5, -1.0, 2.0, 3.0, -0.25, 1.5, 7.0}, {7});
  x.set_requires_grad(true);
  const PhiloxKey key{2, 9};
  const Tensor y = ops::dropout(x, 0.5, key);
  backward(ops::sum(y));
  const auto g = x.grad().to_vector<double>(), xv = x.to_vector<double>(), yv = y.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    EXPECT_EQ(g[i], philox_uniform(key, i) >= 0.5f ? 2.0 : 0.0) << i;
    EXPECT_EQ(yv[i], g[i] * xv[i]) << i;
  }
}

TEST(Rope, BackwardIsTheInverseRotation) {
  // For y = R x with R orthogonal, dL/dx = Rᵀ w; rotating the gradient forward
  // again must give back the upstream gradient w, for both pairings.
  const io::TensorMap& ref = reference();
  const Tensor& pos = testing::at(ref, "rope_3d.positions");
  std::vector<int64_t> doubled = pos.to_vector<int64_t>();
  for (int64_t& p : doubled) p *= 2;
  const Tensor pos2 = Tensor::from<int64_t>(doubled, pos.shape());
  for (bool interleaved : {true, false}) {
    Tensor x = testing::at(ref, "rope_3d_interleaved.in0").to(DType::f64);
    x.set_requires_grad(true);
    const Tensor w = testing::at(ref, "rope_3d_interleaved.dout").to(DType::f64);
    backward(ops::rope(x, pos, 1e4, interleaved), w);
    EXPECT_TRUE(testing::all_close(ops::rope(x.grad(), pos, 1e4, interleaved), w, 0, 1e-12));
    EXPECT_TRUE(testing::all_close(ops::rope(ops::rope(x, pos, 1e4, interleaved).detach(), pos, 1e4, interleaved),
                                   ops::rope(x, pos2, 1e4, interleaved), 0, 1e-12))
        << "rotations compose";
  }
}

TEST(Rope, HalfSplitScoresAlsoDependOnlyOnRelativePosition) {
  const Tensor q = Tensor::from<double>({0.3, -1.2, 0.7, 2.0, -0.4, 0.9, 1.3, -0.8}, {1, 1, 8});
  const Tensor k = Tensor::from<double>({1.1, 0.2, -0.5, 0.8, 1.7, -0.3, 0.4, 0.6}, {1, 1, 8});
  auto score = [&](int64_t m, int64_t n, bool interleaved) {
    const Tensor a = ops::rope(q, Tensor::from<int64_t>({m}, {1}), 1e4, interleaved);
    const Tensor b = ops::rope(k, Tensor::from<int64_t>({n}, {1}), 1e4, interleaved);
    return ops::sum(ops::mul(a, b)).item();
  };
  for (bool interleaved : {true, false}) {
    EXPECT_NEAR(score(3, 10, interleaved), score(1003, 1010, interleaved), 1e-9);
    EXPECT_NEAR(score(9, 0, interleaved), score(4105, 4096, interleaved), 1e-9);
  }
  // The scores of the two pairings agree once q and k are permuted by π.
  const std::vector<int64_t> perm = {0, 2, 4, 6, 1, 3, 5, 7};
  auto permute = [&](const Tensor& t) {
    const auto v = t.to_vector<double>();
    std::vector<double> p(8);
    for (int i = 0; i < 8; ++i) p[static_cast<size_t>(i)] = v[static_cast<size_t>(perm[static_cast<size_t>(i)])];
    return Tensor::from<double>(p, {1, 1, 8});
  };
  const Tensor pm = Tensor::from<int64_t>({5}, {1}), pn = Tensor::from<int64_t>({2}, {1});
  const double interleaved_score = ops::sum(ops::mul(ops::rope(q, pm, 1e4, true), ops::rope(k, pn, 1e4, true))).item();
  const double half_score =
      ops::sum(ops::mul(ops::rope(permute(q), pm, 1e4, false), ops::rope(permute(k), pn, 1e4, false))).item();
  EXPECT_NEAR(interleaved_score, half_score, 1e-12);
}

TEST(Rope, SharedPositionsEqualPerRowPositions) {
  const io::TensorMap& ref = reference();
  const Tensor x = testing::at(ref, "rope_interleaved.f64.in0");  // [2, 5, 3, 8]
  const Tensor shared = Tensor::from<int64_t>({4, 0, 9, 2, 7}, {5});
  const Tensor per_row = Tensor::from<int64_t>({4, 0, 9, 2, 7, 4, 0, 9, 2, 7}, {2, 5});
  for (bool interleaved : {true, false})
    EXPECT_TRUE(testing::all_close(ops::rope(x, shared, 1e4, interleaved), ops::rope(x, per_row, 1e4, interleaved), 0,
                                   0));
  EXPECT_NE(message_of([&] { ops::rope(x.narrow(3, 0, 7), shared, 1e4, true); }).find("even"), std::string::npos);
  EXPECT_NE(message_of([&] { ops::rope(x, Tensor::from<int64_t>({1, 2}, {2}), 1e4, true); }).find("[2, 5, 3, 8]"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln
