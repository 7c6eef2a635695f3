// ToMe in kiln's ViT against a PyTorch port of facebookresearch/ToMe
// (tests/reference/tome.py): one block for r = 1, 3, the most its tokens
// allow, and a clamped r (output, sizes, destinations, every gradient), a
// tiny ViT with ToMe in both blocks (class-token and size-weighted mean
// pooling: loss, logits, sizes, every gradient); the invariants of SPEC-VLM
// §9 (r = 0 is the identity, sizes add up to the tokens, each block removes
// exactly r_eff, sizes of 1 change nothing); token counts, FLOPs and the
// configuration keys.
#include <gtest/gtest.h>

#include <numeric>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/gradcheck.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/io/config_file.hpp"
#include "kiln/kernels/cpu/token_merging.hpp"
#include "kiln/models/vit/token_merging.hpp"
#include "kiln/models/vit/vit.hpp"
#include "kiln/models/vit/vit_config_io.hpp"
#include "support/reference.hpp"

namespace kiln::models {
namespace {

const io::TensorMap& reference() {
  static const io::TensorMap ref = testing::load_reference("tome");
  return ref;
}

std::map<std::string, Tensor> with_prefix(const io::TensorMap& ref, const std::string& prefix) {
  std::map<std::string, Tensor> out;
  for (const auto& [key, value] : ref)
    if (key.rfind(prefix, 0) == 0) out[key.substr(prefix.size())] = value;
  return out;
}

// The reference block's parameters as fresh f64 leaves.
std::map<std::string, Tensor> block_leaves() {
  std::map<std::string, Tensor> params;
  for (const auto& [name, value] : with_prefix(reference(), "block.param."))
    params[name] = value.clone().set_requires_grad(true);
  return params;
}

constexpr int64_t kHeads = 2;
constexpr double kEps = 1e-6;

class TomeBlock : public ::testing::TestWithParam<int64_t> {};

TEST_P(TomeBlock, MatchesPyTorch) {
  const int64_t r = GetParam();
  const io::TensorMap& ref = reference();
  const std::string c = "block_r" + std::to_string(r) + ".";
  std::map<std::string, Tensor> params = block_leaves();
  Tensor x = testing::input_leaf(ref, "block.x");
  const SizedTokens out = vit_block(params, "", {x, testing::at(ref, "block.sizes")}, kHeads, kEps, r);
  EXPECT_TRUE(testing::all_close(out.x, testing::at(ref, c + "out"), 1e-10, 1e-12)) << c;
  EXPECT_TRUE(testing::all_close(out.sizes, testing::at(ref, c + "sizes"), 0, 0)) << c;
  backward(out.x, testing::at(ref, c + "dout"));
  EXPECT_TRUE(testing::all_close(x.grad(), testing::at(ref, c + "grad.x"), 1e-9, 1e-11)) << c;
  for (const auto& [name, p] : params)
    EXPECT_TRUE(testing::all_close(p.grad(), testing::at(ref, c + "grad." + name), 1e-9, 1e-11)) << c << name;
}

TEST_P(TomeBlock, MatchingMatchesPyTorch) {
  const int64_t r = GetParam();
  const io::TensorMap& ref = reference();
  const std::string c = "block_r" + std::to_string(r) + ".";
  const Tensor metric = testing::at(ref, c + "metric");
  const int64_t b = metric.size(0), t = metric.size(1);
  const int64_t merges = tome_merges(r, t, true);
  std::vector<int64_t> destination(static_cast<size_t>(b * t));
  cpu::bipartite_soft_matching(metric.data<double>(), {b, t, metric.size(2), merges, true}, destination.data());
  const std::vector<int64_t> expected = testing::at(ref, c + "destination").to_vector<int64_t>();
  for (int64_t n = 0; n < b; ++n)
    for (int64_t i = 0; i < t; ++i)  // the reference counts rows per sequence
      EXPECT_EQ(destination[n * t + i] - n * (t - merges), expected[n * t + i]) << c << n << "," << i;
}

INSTANTIATE_TEST_SUITE_P(R, TomeBlock, ::testing::Values(1, 3, 5, 9));

TEST(TomeBlockGradient, MatchesFiniteDifferences) {
  // The merge's backward (weighted scatter-add rows) on its own, against
  // central differences: small steps do not change the matching.
  const io::TensorMap& ref = reference();
  const std::map<std::string, Tensor> params = with_prefix(ref, "block.param.");
  const Tensor sizes = testing::at(ref, "block.sizes");
  const auto report = autograd::gradcheck(
      [&](const autograd::TensorList& x) { return vit_block(params, "", {x[0], sizes}, kHeads, kEps, 3).x; },
      {testing::at(ref, "block.x").clone().set_requires_grad(true)});
  EXPECT_TRUE(report.ok) << report.message;
}

VitConfig tiny_tome_vit(bool mean_pool) {
  VitConfig c;
  c.image_size = 8;
  c.patch_size = 2;
  c.d_model = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.mlp_dim = 32;
  c.n_classes = 5;
  c.mean_pool = mean_pool;
  c.tome_r = {3, 2};
  return c;
}

class TomeVit : public ::testing::TestWithParam<bool> {};

TEST_P(TomeVit, LossLogitsSizesAndGradientsMatchPyTorch) {
  const bool mean_pool = GetParam();
  const std::string c = mean_pool ? "vit_mean." : "vit_cls.";
  const io::TensorMap& ref = reference();
  VitModel model(tiny_tome_vit(mean_pool), 0);
  EXPECT_EQ(model.config().token_counts(), (std::vector<int64_t>{17, 14, 12}));
  model.load_parameters(with_prefix(ref, c + "param."));
  const Tensor images = testing::at(ref, c + "images");
  {
    NoGradGuard no_grad;
    const SizedTokens encoded = model.encode_merging(model.embed_patches(images));
    EXPECT_TRUE(testing::all_close(encoded.sizes, testing::at(ref, c + "sizes"), 0, 0));
  }
  EXPECT_TRUE(testing::all_close(model.logits(images), testing::at(ref, c + "logits"), 1e-5, 1e-5));
  const Tensor loss = model.loss(images, testing::at(ref, c + "labels"));
  EXPECT_NEAR(loss.item(), testing::at(ref, c + "loss").item(), 1e-5);
  backward(loss);
  for (const auto& [name, p] : model.parameters())
    EXPECT_TRUE(testing::all_close(p.grad(), testing::at(ref, c + "grad." + name), 1e-4, 2e-5)) << c << name;
}

INSTANTIATE_TEST_SUITE_P(Pooling, TomeVit, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "mean" : "class_token"; });

TEST(TomeInvariants, ZeroMergesIsTheIdentity) {
  const io::TensorMap& ref = reference();
  const SizedTokens tokens{testing::at(ref, "block.x"), testing::at(ref, "block.sizes")};
  const SizedTokens same = merge_tokens(tokens, testing::at(ref, "block_r1.metric"), 0, true);
  EXPECT_TRUE(same.x.same_data(tokens.x));
  EXPECT_TRUE(same.sizes.same_data(tokens.sizes));
  // A ViT whose r is 0 everywhere is today's ViT, bit for bit.
  VitConfig plain = tiny_tome_vit(true), zero = plain;
  plain.tome_r.clear();
  zero.tome_r = {0, 0};
  VitModel a(plain, 3), b(zero, 3);
  const Tensor images = testing::at(ref, "vit_mean.images");
  EXPECT_TRUE(testing::all_close(b.logits(images), a.logits(images), 0, 0));
  EXPECT_FALSE(b.encode_merging(b.embed_patches(images)).sizes.defined());
}

TEST(TomeInvariants, SizesAddUpAndEachBlockRemovesExactlyItsMerges) {
  // Blocks with r = 4, 4, 4, 7 on 23 tokens: 23 → 19 → 15 → 11, then 7 is
  // clamped to (11 − 1) div 2 = 5 → 6; sizes always sum to 23.
  const io::TensorMap& ref = reference();
  const std::map<std::string, Tensor> params = with_prefix(ref, "block.param.");
  Tensor x = Tensor::empty({3, 23, 16}, DType::f64);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<double>()[i] = std::sin(0.37 * static_cast<double>(i * i % 101));
  SizedTokens tokens{x, Tensor()};
  for (int64_t r : {4, 4, 4, 7}) {
    const int64_t t = tokens.x.size(1), expected = t - tome_merges(r, t, true);
    tokens = vit_block(params, "", tokens, kHeads, kEps, r);
    ASSERT_EQ(tokens.x.size(1), expected);
    ASSERT_EQ(tokens.sizes.shape(), Shape({3, expected}));
    for (const double total : ops::sum(tokens.sizes, 1).to_vector<double>()) EXPECT_EQ(total, 23);
    EXPECT_EQ(tokens.sizes.to_vector<double>()[0], 1);  // the class token stays first, alone
  }
  EXPECT_EQ(tokens.x.size(1), 6);
}

TEST(TomeInvariants, SizesOfOneChangeNothing) {
  // Proportional attention with every size 1 is plain attention (ln 1 = 0),
  // and merging from explicit ones equals merging from none.
  const io::TensorMap& ref = reference();
  const std::map<std::string, Tensor> params = with_prefix(ref, "block.param.");
  const Tensor x = testing::at(ref, "block.x");
  for (int64_t r : {0, 3}) {
    const SizedTokens none = vit_block(params, "", {x, Tensor()}, kHeads, kEps, r);
    const SizedTokens ones = vit_block(params, "", {x, Tensor::ones({2, 11}, DType::f64)}, kHeads, kEps, r);
    EXPECT_TRUE(testing::all_close(ones.x, none.x, 0, 0)) << "r = " << r;
  }
}

TEST(TomeSchedule, TokenCountsClampAndFlopsShrink) {
  VitConfig c;  // 28×28, patch 4: 49 patches + class token, 6 blocks
  c.tome_r.assign(6, 12);
  EXPECT_EQ(c.token_counts(), (std::vector<int64_t>{50, 38, 26, 14, 8, 5, 3}));
  EXPECT_EQ(tome_merges(12, 14, true), 6);
  EXPECT_EQ(tome_merges(12, 14, false), 7);
  EXPECT_THROW(tome_merges(-1, 14, true), Error);
  VitConfig plain;
  // r = 0: patch embedding, 6 × (projections + scores + MLP), head.
  const double d = 64, m = 128, t = 50;
  EXPECT_DOUBLE_EQ(plain.forward_flops(), 2 * (49 * 16 * d + 6 * (4 * t * d * d + 2 * t * t * d + 2 * t * d * m) + d * 10));
  EXPECT_LT(c.forward_flops(), 0.5 * plain.forward_flops());
  c.tome_r = {4};  // layers past the list merge nothing
  EXPECT_EQ(c.token_counts(), (std::vector<int64_t>{50, 46, 46, 46, 46, 46, 46}));
}

TEST(TomeConfig, TomlConstantListAndErrors) {
  io::ConfigFile constant = io::ConfigFile::parse("[model]\nn_layer = 3\ntome_r = 4\n", "a.toml");
  EXPECT_EQ(read_vit_config(constant, false).tome_r, (std::vector<int64_t>{4, 4, 4}));
  io::ConfigFile list = io::ConfigFile::parse("[model]\nn_layer = 3\ntome_r = [8, 4]\n", "b.toml");
  EXPECT_EQ(read_vit_config(list, false).tome_r, (std::vector<int64_t>{8, 4}));
  io::ConfigFile negative = io::ConfigFile::parse("[model]\ntome_r = -1\n", "c.toml");
  EXPECT_THROW(read_vit_config(negative, false), Error);
  io::ConfigFile too_long = io::ConfigFile::parse("[model]\nn_layer = 2\ntome_r = [1, 2, 3]\n", "d.toml");
  EXPECT_THROW(read_vit_config(too_long, false), Error);
  io::ConfigFile not_ints = io::ConfigFile::parse("[model]\ntome_r = [1.5]\n", "e.toml");
  EXPECT_THROW(read_vit_config(not_ints, false), Error);
}

TEST(TomeConfig, ConfigJsonCarriesRAndStaysUnchangedWithout) {
  VitConfig c = tiny_tome_vit(false);
  const nlohmann::json j = vit_config_json(c);
  EXPECT_EQ(j["kiln"]["tome_r"], nlohmann::json({3, 2}));
  EXPECT_EQ(vit_config_from_json(j, "config.json").tome_r, c.tome_r);
  c.tome_r = {0, 0};
  EXPECT_FALSE(vit_config_json(c)["kiln"].contains("tome_r"));
  nlohmann::json bad = j;
  bad["kiln"]["tome_r"] = {3, -2};
  EXPECT_THROW(vit_config_from_json(bad, "config.json"), Error);
  bad["kiln"]["tome_r"] = {1, 1, 1};
  EXPECT_THROW(vit_config_from_json(bad, "config.json"), Error);
}

}  // namespace
}  // namespace kiln::models
