#include "kiln/models/cpc/cpc.hpp"

#include <cmath>

#include <fmt/core.h>

#include "kiln/autograd/ops/activation.hpp"
#include "kiln/autograd/ops/conv.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/embedding.hpp"
#include "kiln/autograd/ops/gru.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/models/parameters.hpp"

namespace kiln::models {

void CpcConfig::validate() const {
  KILN_CHECK(channels >= 1 && context >= 1, "model.channels and model.context must be positive");
  KILN_CHECK(steps >= 1, "model.steps (prediction steps K) must be at least 1, got {}", steps);
  KILN_CHECK(negatives >= 1, "model.negatives must be at least 1, got {}", negatives);
}

int64_t CpcConfig::parameter_count() const {
  int64_t count = 0, in = 1;
  for (int64_t kernel : kCpcKernels) {
    count += channels * in * kernel + channels + (channel_norm ? 2 * channels : 0);
    in = channels;
  }
  count += 3 * context * (channels + context) + 6 * context;
  return count + steps * (channels * context + channels);
}

int64_t cpc_frames(int64_t samples) {
  int64_t length = samples;
  for (size_t i = 0; i < kCpcKernels.size(); ++i)
    length = length + 2 * kCpcPaddings[i] < kCpcKernels[i]
                 ? 0
                 : (length + 2 * kCpcPaddings[i] - kCpcKernels[i]) / kCpcStrides[i] + 1;
  return length;
}

std::vector<int64_t> cpc_negative_indices(const CpcConfig& config, int64_t batch, int64_t frames, uint64_t seed,
                                          uint64_t draw) {
  const int64_t window = frames - config.steps;
  KILN_CHECK(window >= 1, "CPC needs more than K = {} frames per window, got {}", config.steps, frames);
  const bool own = config.sampling == CpcNegatives::same_sequence;
  // Excluding t+1..t+K from the anchor's own sequence leaves frames − K candidates there.
  KILN_CHECK(!own || !config.exclude_positives || frames > config.steps,
             "no negatives left in a sequence of {} frames", frames);
  const PhiloxKey key{seed, 0xc0c0000000000000ull + draw};
  std::vector<int64_t> out(static_cast<size_t>(batch * window * config.negatives));
  uint64_t counter = 0;
  const auto uniform_int = [&](int64_t n) {
    const std::array<uint32_t, 4> bits = philox_block(key, counter++);
    const uint64_t wide = (static_cast<uint64_t>(bits[0]) << 32) | bits[1];
    return static_cast<int64_t>(wide % static_cast<uint64_t>(n));
  };
  size_t i = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < window; ++t)
      for (int64_t n = 0; n < config.negatives; ++n) {
        int64_t seq = 0, time = 0;
        do {
          seq = own ? b : uniform_int(batch);
          time = uniform_int(frames);
        } while (config.exclude_positives && seq == b && time > t && time <= t + config.steps);
        out[i++] = seq * frames + time;
      }
  return out;
}

namespace {

Tensor constant_parameter(const Shape& shape, double value) {
  Tensor t = Tensor::full(shape, value);
  t.set_requires_grad(true);
  return t;
}

}  // namespace

CpcModel::CpcModel(CpcConfig config, uint64_t seed) : config_(std::move(config)) {
  config_.validate();
  const CpcConfig& c = config_;
  uint64_t stream = 0;
  int64_t in = 1;
  for (size_t i = 0; i < kCpcKernels.size(); ++i) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in * kCpcKernels[i]));
    parameters_[fmt::format("gEncoder.conv{}.weight", i)] =
        uniform_parameter({c.channels, in, kCpcKernels[i]}, bound, seed, stream++);
    parameters_[fmt::format("gEncoder.conv{}.bias", i)] = uniform_parameter({c.channels}, bound, seed, stream++);
    if (c.channel_norm) {
      parameters_[fmt::format("gEncoder.norm{}.weight", i)] = constant_parameter({c.channels}, 1.0);
      parameters_[fmt::format("gEncoder.norm{}.bias", i)] = constant_parameter({c.channels}, 0.0);
    }
    in = c.channels;
  }
  const double gru_bound = 1.0 / std::sqrt(static_cast<double>(c.context));
  parameters_["gAR.baseNet.weight_ih_l0"] = uniform_parameter({3 * c.context, c.channels}, gru_bound, seed, stream++);
  parameters_["gAR.baseNet.weight_hh_l0"] = uniform_parameter({3 * c.context, c.context}, gru_bound, seed, stream++);
  parameters_["gAR.baseNet.bias_ih_l0"] = uniform_parameter({3 * c.context}, gru_bound, seed, stream++);
  parameters_["gAR.baseNet.bias_hh_l0"] = uniform_parameter({3 * c.context}, gru_bound, seed, stream++);
  const double predictor_bound = 1.0 / std::sqrt(static_cast<double>(c.context));
  for (int64_t k = 0; k < c.steps; ++k) {
    parameters_[fmt::format("wPrediction.predictors.{}.weight", k)] =
        uniform_parameter({c.channels, c.context}, predictor_bound, seed, stream++);
    parameters_[fmt::format("wPrediction.predictors.{}.bias", k)] =
        uniform_parameter({c.channels}, predictor_bound, seed, stream++);
  }
}

void CpcModel::load_parameters(const std::map<std::string, Tensor>& weights) {
  load_named_parameters(parameters_, weights, "this CPC model");
}

const Tensor& CpcModel::param(const std::string& name) const {
  return find_parameter(parameters_, name);
}

Tensor CpcModel::encode(const Tensor& waves) const {
  KILN_CHECK(waves.dim() == 2, "CPC encodes waveforms [B, samples], got {}", waves.describe());
  KILN_CHECK(cpc_frames(waves.size(1)) >= 1, "a window of {} samples is too short for the CPC encoder",
             waves.size(1));
  Tensor x = ops::reshape(waves.to(DType::f32), {waves.size(0), 1, waves.size(1)});
  for (size_t i = 0; i < kCpcKernels.size(); ++i) {
    x = ops::conv1d(x, param(fmt::format("gEncoder.conv{}.weight", i)), param(fmt::format("gEncoder.conv{}.bias", i)),
                    kCpcStrides[i], kCpcPaddings[i]);
    if (config_.channel_norm) {
      // [B, C, S] → per frame over channels → back.
      const Tensor frames = ops::transpose(x, 1, 2);
      const Tensor normed = ops::layer_norm(frames, param(fmt::format("gEncoder.norm{}.weight", i)),
                                            param(fmt::format("gEncoder.norm{}.bias", i)), config_.norm_eps);
      x = ops::transpose(ops::relu(normed), 1, 2);
    } else {
      x = ops::relu(x);
    }
  }
  return ops::contiguous(ops::transpose(x, 1, 2));
}

Tensor CpcModel::context(const Tensor& z) const {
  return ops::gru(z, {}, param("gAR.baseNet.weight_ih_l0"), param("gAR.baseNet.weight_hh_l0"),
                  param("gAR.baseNet.bias_ih_l0"), param("gAR.baseNet.bias_hh_l0"))
      .output;
}

CpcLoss CpcModel::loss(const Tensor& waves, const std::vector<int64_t>& negatives) const {
  const CpcConfig& c = config_;
  const Tensor z = encode(waves);
  const Tensor ctx = context(z);
  const int64_t batch = z.size(0), frames = z.size(1), window = frames - c.steps, k_steps = c.steps;
  const int64_t n_neg = c.negatives, rows = batch * window, dim = c.channels;
  KILN_CHECK(window >= 1, "CPC needs more than K = {} frames per window, got {}", c.steps, frames);
  KILN_CHECK(static_cast<int64_t>(negatives.size()) == rows * n_neg,
             "expected {} negative indices for {} anchors, got {}", rows * n_neg, rows, negatives.size());

  // Every step's prediction W_k c_t at once: [B·W, K, C].
  std::vector<Tensor> weights, biases;
  for (int64_t k = 0; k < k_steps; ++k) {
    weights.push_back(param(fmt::format("wPrediction.predictors.{}.weight", k)));
    biases.push_back(param(fmt::format("wPrediction.predictors.{}.bias", k)));
  }
  const Tensor anchors = ops::narrow(ctx, 1, 0, window);
  const Tensor predictions =
      ops::reshape(ops::linear(anchors, ops::concat(weights, 0), ops::concat(biases, 0)), {rows, k_steps, dim});

  // Negative scores for every step from one batched product: [B·W, K, N−1].
  const Tensor flat_z = ops::reshape(z, {batch * frames, dim});
  const Tensor ids = Tensor::from(negatives, {rows, n_neg});
  const Tensor negative_z = ops::embedding(flat_z, ids);  // [B·W, N−1, C]
  const Tensor negative_scores = ops::matmul(predictions, negative_z, false, true);

  // Positive scores z_{t+k}·W_k c_t: [B·W, K, 1].
  std::vector<Tensor> positives;
  for (int64_t k = 1; k <= k_steps; ++k) positives.push_back(ops::reshape(ops::narrow(z, 1, k, window), {rows, 1, dim}));
  const Tensor positive_z = ops::concat(positives, 1);  // [B·W, K, C]
  const Tensor positive_scores = ops::sum(ops::mul(predictions, positive_z), 2, true);

  Tensor scores = ops::concat({positive_scores, negative_scores}, 2);  // candidate 0 is the positive
  if (c.mean_score) scores = ops::scale(scores, 1.0 / static_cast<double>(dim));
  const Tensor flat_scores = ops::reshape(scores, {rows * k_steps, n_neg + 1});
  const Tensor targets = Tensor::zeros({rows * k_steps}, DType::i64);

  CpcLoss out;
  out.loss = ops::cross_entropy(flat_scores, targets);
  // Per-step statistics from the detached scores (row r·K + k is anchor r, step k+1).
  const std::vector<float> values = flat_scores.detach().contiguous().to_vector<float>();
  out.accuracy.assign(static_cast<size_t>(k_steps), 0.0);
  out.step_loss.assign(static_cast<size_t>(k_steps), 0.0);
  const int64_t width = n_neg + 1;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < k_steps; ++k) {
      const float* row = values.data() + (r * k_steps + k) * width;
      bool positive_wins = true;
      double peak = row[0];
      for (int64_t j = 1; j < width; ++j) {
        positive_wins = positive_wins && row[j] <= row[0];  // ties go to the positive, as argmax does
        peak = std::max(peak, static_cast<double>(row[j]));
      }
      double total = 0;
      for (int64_t j = 0; j < width; ++j) total += std::exp(static_cast<double>(row[j]) - peak);
      out.step_loss[static_cast<size_t>(k)] += std::log(total) + peak - row[0];
      out.accuracy[static_cast<size_t>(k)] += positive_wins ? 1.0 : 0.0;
    }
  for (int64_t k = 0; k < k_steps; ++k) {
    out.accuracy[static_cast<size_t>(k)] /= static_cast<double>(rows);
    out.step_loss[static_cast<size_t>(k)] /= static_cast<double>(rows);
  }
  return out;
}

}  // namespace kiln::models
