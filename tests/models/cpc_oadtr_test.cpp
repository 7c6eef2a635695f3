// CPC and OadTR against a hand-written PyTorch reference (tests/reference/
// cpc_oadtr.py): losses and every gradient, GRU included; the encoder length
// of van den Oord et al. (arXiv 1807.03748, §3.1: 20480 samples → 128
// frames), a hand-computed InfoNCE example, causality and negative-sampler
// checks. (Per-frame AP: tests/train/frame_metrics_test.cpp.)
#include <cmath>

#include <gtest/gtest.h>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/models/cpc/cpc.hpp"
#include "kiln/models/oadtr/oadtr.hpp"
#include "support/reference.hpp"

namespace kiln::models {
namespace {

std::map<std::string, Tensor> with_prefix(const io::TensorMap& ref, const std::string& prefix) {
  std::map<std::string, Tensor> out;
  for (const auto& [key, value] : ref)
    if (key.rfind(prefix, 0) == 0) out[key.substr(prefix.size())] = value;
  return out;
}

CpcConfig tiny_cpc() {
  CpcConfig c;
  c.channels = 8;
  c.context = 6;
  c.steps = 3;
  c.negatives = 4;
  return c;
}

TEST(Cpc, EncoderGivesOneFramePer160Samples) {
  EXPECT_EQ(cpc_frames(20480), 128);
  EXPECT_EQ(cpc_frames(1600), 10);
  EXPECT_EQ(cpc_frames(16000), 100);
  CpcModel model(tiny_cpc(), 0);
  EXPECT_EQ(model.encode(Tensor::zeros({2, 20480})).shape(), (Shape{2, 128, 8}));
  EXPECT_THROW(model.encode(Tensor::zeros({1, 20})), Error);
}

TEST(Cpc, LossAccuracyAndGradientsMatchPyTorch) {
  const io::TensorMap ref = testing::load_reference("cpc_oadtr");
  CpcModel model(tiny_cpc(), 0);
  int64_t count = 0;
  for (const auto& [name, p] : model.parameters()) count += p.numel();
  EXPECT_EQ(model.config().parameter_count(), count);
  model.load_parameters(with_prefix(ref, "cpc.param."));
  const Tensor waves = testing::at(ref, "cpc.waves");
  const Tensor z = model.encode(waves);
  EXPECT_TRUE(testing::all_close(z, testing::at(ref, "cpc.z"), 1e-4, 1e-5));
  EXPECT_TRUE(testing::all_close(model.context(z), testing::at(ref, "cpc.c"), 1e-4, 1e-5));
  const CpcLoss loss = model.loss(waves, testing::at(ref, "cpc.negatives").to_vector<int64_t>());
  EXPECT_NEAR(loss.loss.item(), testing::at(ref, "cpc.loss").item(), 1e-5);
  const std::vector<double> accuracy = testing::at(ref, "cpc.accuracy").to_vector<double>();
  const std::vector<float> step_loss = testing::at(ref, "cpc.step_loss").to_vector<float>();
  // A negative drawn from the positive's own frame scores the same as the
  // positive up to rounding, and which of the two wins then depends on the
  // GEMM kernels of the CPU (kiln scores negatives with a batched product,
  // positives with a dot product). Only such rows may differ from PyTorch.
  const std::vector<int64_t> negatives = testing::at(ref, "cpc.negatives").to_vector<int64_t>();
  const int64_t batch = waves.size(0), frames = z.size(1), window = frames - 3, n_neg = 4;
  std::vector<int64_t> self_ties(3, 0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < window; ++t)
      for (int64_t k = 1; k <= 3; ++k)
        for (int64_t n = 0; n < n_neg; ++n)
          if (negatives[static_cast<size_t>((b * window + t) * n_neg + n)] == b * frames + t + k) {
            ++self_ties[static_cast<size_t>(k - 1)];
            break;
          }
  ASSERT_EQ(loss.accuracy.size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    const double rows = static_cast<double>(batch * window);
    EXPECT_LE(std::abs(loss.accuracy[k] - accuracy[k]) * rows, static_cast<double>(self_ties[k]) + 1e-9)
        << "step " << k + 1 << ": more rows differ from PyTorch than have a negative equal to the positive";
    EXPECT_NEAR(loss.step_loss[k], step_loss[k], 1e-5) << "step " << k + 1;
  }
  backward(loss.loss);
  for (const auto& [name, p] : model.parameters())
    EXPECT_TRUE(testing::all_close(p.grad(), testing::at(ref, "cpc.grad." + name), 1e-3, 1e-5)) << name;
}

TEST(Cpc, InfoNceWorkedExample) {
  // InfoNCE (van den Oord et al., arXiv 1807.03748, §2.3), hand-computed: scores [2.0, 0.5, −1.0, 0.0],
  // positive first.
  Tensor scores = Tensor::from(std::vector<float>{2.0f, 0.5f, -1.0f, 0.0f}, {1, 4});
  scores.set_requires_grad(true);
  const Tensor loss = ops::cross_entropy(scores, Tensor::zeros({1}, DType::i64));
  EXPECT_NEAR(loss.item(), 0.342350, 1e-6);
  EXPECT_NEAR(std::log(4.0) - loss.item(), 1.043945, 1e-6);
  backward(loss);
  const std::vector<float> grad = scores.grad().to_vector<float>();
  double total = 0;
  for (float s : {2.0, 0.5, -1.0, 0.0}) total += std::exp(s);
  EXPECT_NEAR(grad[0], std::exp(2.0) / total - 1.0, 1e-6);
  for (size_t i = 1; i < 4; ++i) EXPECT_NEAR(grad[i], std::exp(std::vector<double>{2.0, 0.5, -1.0, 0.0}[i]) / total, 1e-6);
}

TEST(Cpc, ContextDoesNotSeeTheFuture) {
  CpcModel model(tiny_cpc(), 3);
  Tensor z = Tensor::full({1, 10, 8}, 0.5);
  const std::vector<float> before = model.context(z).to_vector<float>();
  z.data<float>()[6 * 8 + 2] += 5.0f;  // perturb z_6
  const std::vector<float> after = model.context(z).to_vector<float>();
  for (size_t i = 0; i < 6 * 6; ++i) EXPECT_EQ(before[i], after[i]) << "c_" << i / 6 << " changed";
  bool later_changed = false;
  for (size_t i = 6 * 6; i < after.size(); ++i) later_changed = later_changed || before[i] != after[i];
  EXPECT_TRUE(later_changed);
}

TEST(Cpc, NegativeSamplerRespectsItsConfiguration) {
  CpcConfig c = tiny_cpc();
  c.negatives = 16;
  const int64_t batch = 4, frames = 20, window = frames - c.steps;
  const std::vector<int64_t> mixed = cpc_negative_indices(c, batch, frames, 7, 0);
  ASSERT_EQ(static_cast<int64_t>(mixed.size()), batch * window * c.negatives);
  bool other_sequence = false;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < window; ++t)
      for (int64_t n = 0; n < c.negatives; ++n) {
        const int64_t index = mixed[static_cast<size_t>((b * window + t) * c.negatives + n)];
        const int64_t seq = index / frames, time = index % frames;
        ASSERT_TRUE(index >= 0 && index < batch * frames);
        EXPECT_FALSE(seq == b && time > t && time <= t + c.steps) << "a positive drawn as a negative";
        other_sequence = other_sequence || seq != b;
      }
  EXPECT_TRUE(other_sequence);
  EXPECT_EQ(mixed, cpc_negative_indices(c, batch, frames, 7, 0));
  EXPECT_NE(mixed, cpc_negative_indices(c, batch, frames, 7, 1));

  c.sampling = CpcNegatives::same_sequence;
  const std::vector<int64_t> own = cpc_negative_indices(c, batch, frames, 7, 0);
  for (size_t i = 0; i < own.size(); ++i)
    EXPECT_EQ(own[i] / frames, static_cast<int64_t>(i) / (window * c.negatives));
}

OadtrConfig tiny_oadtr() {
  OadtrConfig c;
  c.feature_dim = 4;
  c.window = 5;
  c.d_model = 8;
  c.enc_layers = 2;
  c.enc_heads = 2;
  c.ffn_dim = 12;
  c.dec_layers = 2;
  c.dec_heads = 2;
  c.dec_ffn = 10;
  c.queries = 3;
  c.classes = 4;
  c.dropout = 0;
  return c;
}

TEST(Oadtr, LogitsLossAndGradientsMatchPyTorch) {
  const io::TensorMap ref = testing::load_reference("cpc_oadtr");
  OadtrModel model(tiny_oadtr(), 0);
  int64_t count = 0;
  for (const auto& [name, p] : model.parameters()) count += p.numel();
  EXPECT_EQ(model.config().parameter_count(), count);
  model.load_parameters(with_prefix(ref, "oadtr.param."));
  const Tensor windows = testing::at(ref, "oadtr.windows");
  const DetectorOutput out = model.forward(windows);
  EXPECT_TRUE(testing::all_close(out.current, testing::at(ref, "oadtr.current_logits"), 1e-4, 1e-5));
  EXPECT_TRUE(testing::all_close(out.future, testing::at(ref, "oadtr.future_logits"), 1e-4, 1e-5));
  const DetectorLoss loss =
      model.loss(windows, testing::at(ref, "oadtr.current"), testing::at(ref, "oadtr.future"));
  EXPECT_NEAR(loss.loss.item(), testing::at(ref, "oadtr.loss").item(), 1e-5);
  backward(loss.loss);
  for (const auto& [name, p] : model.parameters())
    EXPECT_TRUE(testing::all_close(p.grad(), testing::at(ref, "oadtr.grad." + name), 1e-3, 1e-5)) << name;
}

TEST(Oadtr, CurrentFrameDependsOnlyOnTheWindow) {
  OadtrConfig c = tiny_oadtr();
  OadtrModel model(c, 5);
  Tensor windows = Tensor::zeros({2, c.window, c.feature_dim});
  windows.data<float>()[3] = 1.0f;
  const std::vector<float> both = model.forward(windows).current.to_vector<float>();
  const std::vector<float> first = model.forward(ops::narrow(windows, 0, 0, 1).contiguous()).current.to_vector<float>();
  for (size_t i = 0; i < first.size(); ++i) EXPECT_NEAR(both[i], first[i], 1e-6);
  EXPECT_THROW(model.forward(Tensor::zeros({1, c.window + 1, c.feature_dim})), Error);
}

TEST(GruDetector, LossAndGradientsMatchPyTorch) {
  const io::TensorMap ref = testing::load_reference("cpc_oadtr");
  GruDetectorConfig c;
  c.feature_dim = 4;
  c.window = 5;
  c.hidden = 6;
  c.classes = 4;
  GruDetector model(c, 0);
  model.load_parameters(with_prefix(ref, "gru.param."));
  const Tensor windows = testing::at(ref, "oadtr.windows");
  EXPECT_TRUE(testing::all_close(model.forward(windows).current, testing::at(ref, "gru.logits"), 1e-4, 1e-5));
  const DetectorLoss loss = model.loss(windows, testing::at(ref, "oadtr.current"));
  EXPECT_NEAR(loss.loss.item(), testing::at(ref, "gru.loss").item(), 1e-5);
  backward(loss.loss);
  for (const auto& [name, p] : model.parameters())
    EXPECT_TRUE(testing::all_close(p.grad(), testing::at(ref, "gru.grad." + name), 1e-3, 1e-5)) << name;
}

}  // namespace
}  // namespace kiln::models
