// Neural-network ops: forward and gradients against PyTorch
// (tests/reference/ops_nn.py) and against finite differences in f64.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/gradcheck.hpp"
#include "kiln/autograd/ops/activation.hpp"
#include "kiln/autograd/ops/attention.hpp"
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

struct Case {
  std::string name;
  int inputs;
  Fn fn;
  bool gradcheck = true;  // off only where f64 finite differences would take too long
};

const io::TensorMap& reference() {
  static const io::TensorMap ref = testing::load_reference("ops_nn");
  return ref;
}

ops::AttentionOptions causal() {
  ops::AttentionOptions o;
  o.causal = true;
  return o;
}

// The golden case's bias "<name>.bias" on top of `o`.
ops::AttentionOptions with_key_bias(const io::TensorMap& r, const std::string& name, ops::AttentionOptions o = {}) {
  o.key_bias = testing::at(r, name + ".bias");
  return o;
}

std::vector<Case> cases() {
  using R = const io::TensorMap&;
  return {
      {"layer_norm", 3, [](const TensorList& x, R) { return ops::layer_norm(x[0], x[1], x[2], 1e-5); }},
      {"rms_norm", 2, [](const TensorList& x, R) { return ops::rms_norm(x[0], x[1], 1e-6); }},
      {"gelu_erf", 1, [](const TensorList& x, R) { return ops::gelu(x[0]); }},
      {"gelu_tanh", 1, [](const TensorList& x, R) { return ops::gelu(x[0], ops::GeluApproximation::tanh); }},
      {"silu", 1, [](const TensorList& x, R) { return ops::silu(x[0]); }},
      {"swiglu", 2, [](const TensorList& x, R) { return ops::swiglu(x[0], x[1]); }},
      {"softmax", 1, [](const TensorList& x, R) { return ops::softmax(x[0]); }},
      {"log_softmax", 1, [](const TensorList& x, R) { return ops::log_softmax(x[0]); }},
      {"embedding", 1, [](const TensorList& x, R r) { return ops::embedding(x[0], testing::at(r, "embedding.ids")); }},
      {"cross_entropy", 1,
       [](const TensorList& x, R r) { return ops::cross_entropy(x[0], testing::at(r, "cross_entropy.targets")); }},
      {"cross_entropy_smooth", 1,
       [](const TensorList& x, R r) {
         return ops::cross_entropy(x[0], testing::at(r, "cross_entropy.targets"), {.label_smoothing = 0.1});
       }},
      {"mse", 2, [](const TensorList& x, R) { return ops::mse_loss(x[0], x[1]); }},
      {"rope_interleaved", 1,
       [](const TensorList& x, R r) { return ops::rope(x[0], testing::at(r, "rope.positions"), 1e4, true); }},
      {"rope_half", 1,
       [](const TensorList& x, R r) { return ops::rope(x[0], testing::at(r, "rope.positions"), 1e4, false); }},
      {"attn_causal", 3, [](const TensorList& x, R) { return ops::attention(x[0], x[1], x[2], causal()); }},
      {"attn_full_gqa", 3, [](const TensorList& x, R) { return ops::attention(x[0], x[1], x[2]); }},
      {"attn_causal_gqa_long", 3, [](const TensorList& x, R) { return ops::attention(x[0], x[1], x[2], causal()); },
       false},
      {"attn_varlen", 3,
       [](const TensorList& x, R r) {
         ops::AttentionOptions o = causal();
         o.cu_seqlens = testing::at(r, "attn_varlen.cu_seqlens");
         return ops::attention(x[0], x[1], x[2], o);
       }},
      {"attn_padding", 3,
       [](const TensorList& x, R r) {
         ops::AttentionOptions o;
         o.key_padding_mask = testing::at(r, "attn_padding.keep");
         return ops::attention(x[0], x[1], x[2], o);
       }},
      {"attn_key_bias", 3,
       [](const TensorList& x, R r) { return ops::attention(x[0], x[1], x[2], with_key_bias(r, "attn_key_bias")); }},
      {"attn_key_bias_long", 3,
       [](const TensorList& x, R r) {
         return ops::attention(x[0], x[1], x[2], with_key_bias(r, "attn_key_bias_long", causal()));
       },
       false},
      {"attn_key_bias_masked_f64", 3,
       [](const TensorList& x, R r) {
         ops::AttentionOptions o = causal();
         o.key_padding_mask = testing::at(r, "attn_padding.keep");
         return ops::attention(x[0], x[1], x[2], with_key_bias(r, "attn_key_bias_masked_f64", o));
       }},
      {"attn_key_bias_varlen_f64", 3,
       [](const TensorList& x, R r) {
         ops::AttentionOptions o;
         o.cu_seqlens = testing::at(r, "attn_key_bias_varlen_f64.cu_seqlens");
         return ops::attention(x[0], x[1], x[2], with_key_bias(r, "attn_key_bias_varlen_f64", o));
       }},
  };
}

class OpsNn : public ::testing::TestWithParam<Case> {};

TEST_P(OpsNn, MatchesPyTorch) {
  const Case& c = GetParam();
  const io::TensorMap& ref = reference();
  testing::expect_matches_reference(ref, c.name, c.inputs, [&](const TensorList& x) { return c.fn(x, ref); });
}

TEST_P(OpsNn, GradientsMatchFiniteDifferences) {
  const Case& c = GetParam();
  if (!c.gradcheck) GTEST_SKIP() << "covered by the PyTorch comparison; too large for element-wise differences";
  const io::TensorMap& ref = reference();
  testing::expect_gradients_match_finite_differences(ref, c.name, c.inputs,
                                                     [&](const TensorList& x) { return c.fn(x, ref); });
}

INSTANTIATE_TEST_SUITE_P(All, OpsNn, ::testing::ValuesIn(cases()), [](const auto& info) { return info.param.name; });

TEST(Attention, VarlenEqualsEachSequenceAlone) {
  const io::TensorMap& ref = reference();
  const Tensor q = testing::at(ref, "attn_varlen.in0"), k = testing::at(ref, "attn_varlen.in1"),
               v = testing::at(ref, "attn_varlen.in2");
  ops::AttentionOptions packed = causal();
  packed.cu_seqlens = testing::at(ref, "attn_varlen.cu_seqlens");
  const Tensor all = ops::attention(q, k, v, packed);
  const int64_t bounds[] = {0, 5, 9, 12};
  for (int s = 0; s < 3; ++s) {
    const int64_t start = bounds[s], length = bounds[s + 1] - bounds[s];
    const Tensor alone = ops::attention(q.narrow(1, start, length), k.narrow(1, start, length),
                                        v.narrow(1, start, length), causal());
    EXPECT_TRUE(testing::all_close(all.narrow(1, start, length), alone, 0, 1e-6)) << "sequence " << s;
  }
}

TEST(Attention, ZeroKeyBiasEqualsNoBias) {
  const io::TensorMap& ref = reference();
  for (const std::string name : {"attn_key_bias", "attn_key_bias_masked_f64"}) {
    autograd::TensorList plain, biased;
    for (int i = 0; i < 3; ++i) {
      plain.push_back(testing::input_leaf(ref, name + ".in" + std::to_string(i)));
      biased.push_back(testing::input_leaf(ref, name + ".in" + std::to_string(i)));
    }
    ops::AttentionOptions zero;
    zero.key_bias = Tensor::zeros(testing::at(ref, name + ".bias").shape());
    const Tensor a = ops::attention(plain[0], plain[1], plain[2]), b = ops::attention(biased[0], biased[1], biased[2], zero);
    EXPECT_TRUE(testing::all_close(b, a, 0, 0)) << name;
    const Tensor dout = testing::at(ref, name + ".dout");
    backward(a, dout);
    backward(b, dout);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(testing::all_close(biased[i].grad(), plain[i].grad(), 0, 0)) << name << " " << i;
  }
}

TEST(Attention, KeyBiasMustBeFloatingBS) {
  const Tensor q = Tensor::zeros({2, 3, 1, 4}), k = Tensor::zeros({2, 5, 1, 4});
  ops::AttentionOptions o;
  o.key_bias = Tensor::zeros({2, 3});
  EXPECT_THROW(ops::attention(q, k, k, o), Error);
  o.key_bias = Tensor::zeros({2, 5}, DType::i64);
  EXPECT_THROW(ops::attention(q, k, k, o), Error);
}

TEST(Attention, ScratchDoesNotGrowWithSequenceLength) {
  // Forward keeps the output and one log-sum-exp per row; anything T×S-sized
  // would show as extra peak memory far above these.
  for (int64_t t : {256, 1024}) {
    const Tensor q = Tensor::zeros({1, t, 2, 32}), k = Tensor::zeros({1, t, 2, 32}), v = Tensor::zeros({1, t, 2, 32});
    release_cached_memory();
    reset_peak_memory();
    const int64_t before = memory_stats().live_bytes;
    const Tensor out = ops::attention(q, k, v, causal());
    const int64_t extra = memory_stats().peak_bytes - before;
    const int64_t output_and_lse = t * 2 * 32 * 4 + 2 * t * 4;
    EXPECT_LE(extra, output_and_lse + (64 << 10)) << "T = " << t;
    EXPECT_LT(extra, t * t * 2 * 4) << "T = " << t;  // a score matrix would be at least this
  }
}

TEST(Rope, MatchesWorkedExampleAndPermutation) {
  // Hand-computed example: D = 8, θ = 1e4, position 3, x = 1..8.
  const Tensor x = Tensor::from<double>({1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 8});
  const Tensor pos = Tensor::from<int64_t>({3}, {1});
  EXPECT_TRUE(testing::all_close(ops::rope(x, pos, 1e4, true),
                                 Tensor::from<double>({-1.27223251, -1.83886499, 1.68392864, 4.70790658, 4.81777717,
                                                       6.14727770, 6.97596854, 8.02096397},
                                                      {1, 1, 8}),
                                 0, 1e-7));
  EXPECT_TRUE(testing::all_close(ops::rope(x, pos, 1e4, false),
                                 Tensor::from<double>({-1.69559254, 0.13755174, 2.78868160, 3.97598204, -4.80884247,
                                                       6.32305935, 7.08683674, 8.01196398},
                                                      {1, 1, 8}),
                                 0, 1e-7));
  // halfsplit(π(x)) == π(interleaved(x)) with π = [0, 2, 4, 6, 1, 3, 5, 7].
  const std::vector<int64_t> perm = {0, 2, 4, 6, 1, 3, 5, 7};
  auto permute = [&](const Tensor& t) {
    const auto v = t.to_vector<double>();
    std::vector<double> p(8);
    for (int i = 0; i < 8; ++i) p[i] = v[perm[i]];
    return Tensor::from<double>(p, {1, 1, 8});
  };
  EXPECT_TRUE(testing::all_close(ops::rope(permute(x), pos, 1e4, false), permute(ops::rope(x, pos, 1e4, true)), 0,
                                 1e-12));
}

TEST(Rope, ScoresDependOnlyOnRelativePosition) {
  const Tensor q = Tensor::from<double>({0.3, -1.2, 0.7, 2.0, -0.4, 0.9}, {1, 1, 6});
  const Tensor k = Tensor::from<double>({1.1, 0.2, -0.5, 0.8, 1.7, -0.3}, {1, 1, 6});
  auto score = [&](int64_t m, int64_t n) {
    const Tensor a = ops::rope(q, Tensor::from<int64_t>({m}, {1}), 1e4, true);
    const Tensor b = ops::rope(k, Tensor::from<int64_t>({n}, {1}), 1e4, true);
    return ops::sum(ops::mul(a, b)).item();
  };
  EXPECT_NEAR(score(5, 2), score(105, 102), 1e-9);
  EXPECT_NEAR(score(0, 7), score(40, 47), 1e-9);
}

TEST(Dropout, MaskIsAFunctionOfTheKey) {
  const Tensor x = Tensor::ones({10000});
  const Tensor a = ops::dropout(x, 0.25, {7, 1}), b = ops::dropout(x, 0.25, {7, 1}), c = ops::dropout(x, 0.25, {7, 2});
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  EXPECT_NE(a.to_vector<float>(), c.to_vector<float>());
  // E[y] = x: the kept fraction is 0.75 ± 4σ (σ = sqrt(0.75·0.25/10000)).
  EXPECT_NEAR(ops::mean(a).item(), 1.0, 4 * std::sqrt(0.1875 / 10000) / 0.75);
  // d y/d x is the same mask scaled by 1/(1−p). (No PyTorch parity: its mask comes from another generator.)
  Tensor leaf = Tensor::ones({10000});
  leaf.set_requires_grad(true);
  backward(ops::sum(ops::dropout(leaf, 0.25, {7, 1})));
  EXPECT_EQ(leaf.grad().to_vector<float>(), a.to_vector<float>());
  EXPECT_TRUE(ops::dropout(x, 0.25, {7, 1}, false).same_data(x));
}

TEST(CrossEntropy, RejectsTargetsOutsideTheVocabulary) {
  const Tensor logits = Tensor::zeros({2, 4});
  EXPECT_THROW(ops::cross_entropy(logits, Tensor::from<int64_t>({1, 4}, {2})), Error);
  EXPECT_THROW(ops::embedding(Tensor::zeros({3, 2}), Tensor::from<int64_t>({3}, {1})), Error);
}

}  // namespace
}  // namespace kiln
