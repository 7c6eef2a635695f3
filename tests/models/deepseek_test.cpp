// The DeepSeek-V3 additions: MLA, DeepSeekMoE and MTP against a hand-written
// PyTorch implementation (tests/reference/deepseek.py) — loss and every
// parameter's gradient; absorbed MLA decoding against naive decoding and the
// full forward; hand-computed routing, bias-update and balance-loss examples
// (DeepSeek-V3, arXiv 2412.19437, §2.1.2); the V3 parameter counts derived
// from deepseek-ai/DeepSeek-V3's config_671B.json.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <set>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/models/gpt/generate.hpp"
#include "kiln/models/gpt/model.hpp"
#include "kiln/models/gpt/moe.hpp"
#include "support/reference.hpp"

namespace kiln::models {
namespace {

GptConfig tiny_config(const std::string& name) {
  GptConfig c;
  c.vocab_size = 40;
  c.d_model = 32;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.ffn_hidden = 48;
  c.max_seq_len = 20;
  c.norm_eps = 1e-6;
  if (name != "moe") {
    c.attention = AttentionKind::mla;
    c.mla = {.q_lora_rank = 24, .kv_lora_rank = 16, .qk_nope_head_dim = 8, .qk_rope_head_dim = 4, .v_head_dim = 6};
  }
  if (name != "mla") {
    c.moe.n_routed_experts = 8;
    c.moe.n_shared_experts = 1;
    c.moe.n_activated_experts = 2;
    c.moe.moe_inter_dim = 16;
    c.moe.n_expert_groups = 4;
    c.moe.n_limited_groups = 2;
    c.moe.first_k_dense = 1;
    c.moe.route_scale = 2.5;
    c.moe.seq_aux_alpha = 0.01;
  }
  if (name == "full") c.mtp_depth = 1;
  return c;
}

GptModel reference_model(const std::string& name, const io::TensorMap& ref) {
  GptModel model(tiny_config(name), 0);
  const std::string prefix = name + ".param.";
  std::map<std::string, Tensor> weights;
  for (const auto& [key, value] : ref)
    if (key.rfind(prefix, 0) == 0) weights[key.substr(prefix.size())] = value;
  model.load_parameters(weights);
  return model;
}

DecoderBatch reference_batch(const std::string& name, const io::TensorMap& ref) {
  DecoderBatch batch;
  batch.tokens = testing::at(ref, name + ".tokens");
  batch.targets = testing::at(ref, name + ".targets");
  if (ref.count(name + ".cu_seqlens") != 0) {
    batch.positions = testing::at(ref, name + ".positions");
    batch.cu_seqlens = testing::at(ref, name + ".cu_seqlens");
  }
  return batch;
}

struct Variant {
  std::string name;
  bool checkpointing;
};

class DeepSeekParity : public ::testing::TestWithParam<Variant> {};

TEST_P(DeepSeekParity, LossTermsAndGradientsMatchPyTorch) {
  const Variant v = GetParam();
  const io::TensorMap ref = testing::load_reference("deepseek");
  GptModel model = reference_model(v.name, ref);
  const LossTerms terms =
      model.loss_terms(reference_batch(v.name, ref), {.gradient_checkpointing = v.checkpointing, .mtp_weight = 0.3});
  EXPECT_NEAR(terms.main, testing::at(ref, v.name + ".main_loss").item(), 2e-5);
  EXPECT_NEAR(terms.mtp, testing::at(ref, v.name + ".mtp_loss").item(), 2e-5);
  EXPECT_NEAR(terms.balance, testing::at(ref, v.name + ".balance_loss").item(), 1e-7);
  EXPECT_NEAR(terms.total.item(), testing::at(ref, v.name + ".loss").item(), 2e-5);
  backward(terms.total);
  for (const auto& [name, param] : model.parameters()) {
    if (!param.requires_grad()) continue;  // the routing bias moves by balancing, not by gradients
    EXPECT_TRUE(testing::all_close(param.grad(), testing::at(ref, v.name + ".grad." + name), 1e-4, 2e-5)) << name;
  }
  // Training forward passes count the routed load: every token gets K experts.
  const ExpertLoads loads = model.take_expert_loads();
  for (const auto& [layer, load] : loads)
    EXPECT_EQ(std::accumulate(load.begin(), load.end(), int64_t{0}), 2 * 20)
        << "layer " << layer;
}

INSTANTIATE_TEST_SUITE_P(All, DeepSeekParity,
                         ::testing::Values(Variant{"mla", false}, Variant{"moe", false}, Variant{"full", false},
                                           Variant{"full", true}),
                         [](const auto& info) { return info.param.name + (info.param.checkpointing ? "_checkpointed" : ""); });

TEST(Mla, NaiveAndAbsorbedDecodingEqualTheFullForward) {
  const io::TensorMap ref = testing::load_reference("deepseek");
  GptModel model = reference_model("mla", ref);
  const Tensor row = testing::at(ref, "mla.tokens").select(0, 0).contiguous();
  DecoderBatch batch;
  batch.tokens = row.reshape({1, row.numel()});
  const Tensor full = model.logits(batch).select(0, 0);
  for (bool absorbed : {false, true}) {
    KvCache cache = model.new_cache(row.numel(), absorbed);
    const Tensor first = model.decode(row.narrow(0, 0, 4).contiguous(), cache);
    EXPECT_TRUE(testing::all_close(first, full.narrow(0, 0, 4), 1e-5, 1e-5)) << "absorbed " << absorbed;
    for (int64_t t = 4; t < row.numel(); ++t) {
      const Tensor step = model.decode(row.narrow(0, t, 1).contiguous(), cache);
      EXPECT_TRUE(testing::all_close(step, full.narrow(0, t, 1), 1e-5, 1e-5)) << "absorbed " << absorbed << " t " << t;
    }
  }
  // The absorbed cache holds d_c + d_rope floats per token and layer; naive H·(192-style + d_v).
  EXPECT_EQ(model.new_cache(8, true).bytes_per_token(), 2 * (16 + 4) * 4);
  EXPECT_EQ(model.new_cache(8, false).bytes_per_token(), 2 * 4 * (12 + 6) * 4);
  EXPECT_EQ(model.config().kv_cache_values_per_token(true), 16 + 4);
}

TEST(Mla, CachedLatentIsTheNormalisedLatent) {
  const io::TensorMap ref = testing::load_reference("deepseek");
  GptModel model = reference_model("mla", ref);
  KvCache cache = model.new_cache(4, true);
  model.decode(Tensor::from<int64_t>({3, 7}, {2}), cache);
  // RMSNorm with gain g: the mean square of ĉ/g is 1 (up to ε).
  const Tensor latent = cache.keys[0].select(0, 1).reshape({16});
  const Tensor gain = model.parameters().at("model.layers.0.self_attn.kv_a_layernorm.weight");
  double mean_square = 0;
  for (int64_t i = 0; i < 16; ++i) {
    const double v = latent.data<float>()[i] / gain.data<float>()[i];
    mean_square += v * v / 16;
  }
  EXPECT_NEAR(mean_square, 1.0, 1e-4);
}

TEST(Mtp, SpeculativeDecodingEqualsGreedyTokenForToken) {
  const io::TensorMap ref = testing::load_reference("deepseek");
  GptModel model = reference_model("full", ref);
  SamplingOptions greedy;
  greedy.temperature = 0;
  for (bool absorbed : {true, false}) {
    greedy.mla_absorbed = absorbed;
    for (const std::vector<int32_t>& prompt : {std::vector<int32_t>{5}, std::vector<int32_t>{3, 17, 29, 1, 8}}) {
      const std::vector<int32_t> plain = generate(model, prompt, 40, greedy);
      SpeculativeStats stats;
      const std::vector<int32_t> fast = generate_speculative(model, prompt, 40, greedy, stats);
      EXPECT_EQ(fast, plain);
      EXPECT_EQ(stats.drafted, stats.main_forwards);
      // every verification commits one token, or two when the draft is accepted (the last may be cut by the limit)
      const int64_t committed = 1 + stats.main_forwards + stats.accepted;
      const auto size = static_cast<int64_t>(fast.size());
      EXPECT_TRUE(size == committed || size == committed - 1) << size << " vs " << committed;
    }
  }
  GptModel plain_model = reference_model("mla", ref);
  SpeculativeStats stats;
  EXPECT_THROW(generate_speculative(plain_model, {1, 2}, 4, greedy, stats), Error);
}

TEST(Moe, GatingWorkedExample) {
  MoeConfig c;
  c.n_routed_experts = 8;
  c.n_activated_experts = 2;
  c.n_expert_groups = 4;
  c.n_limited_groups = 2;
  c.route_scale = 2.5;
  const std::vector<float> logits{0.5f, -1.0f, 2.0f, 0.0f, 1.0f, 1.5f, -0.5f, 0.2f};
  const std::vector<float> bias{0, 0.3f, -0.5f, 0.1f, 0, 0, 0.4f, 0.2f};
  std::vector<float> scores;
  for (float x : logits) scores.push_back(1.0f / (1.0f + std::exp(-x)));
  const ExpertRouting r = route_tokens(scores.data(), bias.data(), 1, c);
  EXPECT_EQ(r.expert, (std::vector<int32_t>{5, 6}));  // expert 2 has the top score but a negative bias
  const std::vector<float> gates = routing_gates(scores.data(), r, c.route_scale);
  EXPECT_NEAR(gates[0], 1.710242, 1e-6);
  EXPECT_NEAR(gates[1], 0.789758, 1e-6);
  EXPECT_NEAR(gates[0] + gates[1], 2.5, 1e-6);
}

TEST(Moe, SelectionStaysInKeptGroupsAndIsDropless) {
  MoeConfig c;
  c.n_routed_experts = 16;
  c.n_activated_experts = 3;
  c.n_expert_groups = 4;
  c.n_limited_groups = 2;
  const int64_t tokens = 200;
  std::vector<float> scores(static_cast<size_t>(tokens * 16)), bias(16);
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = static_cast<float>(std::fmod(std::sin(i * 12.9898) * 43758.5453, 1.0) * 0.5 + 0.5);
  for (size_t i = 0; i < bias.size(); ++i) bias[i] = static_cast<float>(0.05 * std::cos(i * 3.1));
  const ExpertRouting r = route_tokens(scores.data(), bias.data(), tokens, c);
  EXPECT_EQ(std::accumulate(r.load.begin(), r.load.end(), int64_t{0}), tokens * 3);
  for (int64_t t = 0; t < tokens; ++t) {
    std::set<int32_t> experts, groups;
    for (int64_t s = 0; s < 3; ++s) {
      experts.insert(r.expert[t * 3 + s]);
      groups.insert(r.expert[t * 3 + s] / 4);
    }
    EXPECT_EQ(experts.size(), 3u);
    EXPECT_LE(groups.size(), 2u);
  }
}

TEST(Moe, BiasUpdateAndSequenceBalanceLossExamples) {
  Tensor bias = Tensor::zeros({4});
  const double imbalance = update_expert_bias(bias, {10, 6, 8, 8}, 0.001);
  EXPECT_EQ(bias.to_vector<float>(), (std::vector<float>{-0.001f, 0.001f, 0.0f, 0.0f}));
  EXPECT_DOUBLE_EQ(imbalance, 10.0 / 8.0);

  const Tensor scores = Tensor::from<float>({0.9f, 0.1f, 0.5f, 0.2f, 0.8f, 0.3f, 0.1f, 0.6f, 0.2f, 0.7f, 0.4f, 0.9f,
                                             0.6f, 0.6f, 0.2f, 0.1f},
                                            {1, 4, 4});
  ExpertRouting r{4, 2, 4, {0, 2, 0, 3, 3, 1, 0, 1}, {3, 2, 1, 2}};
  EXPECT_NEAR(sequence_balance_loss(scores, r, 1e-4).item(), 1.0999926e-4, 1e-10);
  ExpertRouting uniform{4, 2, 4, {0, 1, 2, 3, 0, 1, 2, 3}, {2, 2, 2, 2}};
  EXPECT_NEAR(sequence_balance_loss(scores, uniform, 1e-4).item(), 1e-4, 1e-10);
}

TEST(Moe, BiasThatKeepsTheSelectionLeavesTheOutputBitIdentical) {
  const io::TensorMap ref = testing::load_reference("deepseek");
  GptModel model = reference_model("moe", ref);
  const DecoderBatch batch = reference_batch("moe", ref);
  NoGradGuard no_grad;
  const std::vector<float> before = model.logits(batch).to_vector<float>();
  Tensor& bias = model.parameters().at("model.layers.1.mlp.gate.e_score_correction_bias");
  for (int64_t i = 0; i < bias.numel(); ++i) bias.data<float>()[i] += 1e-7f;  // a uniform shift keeps every ranking
  EXPECT_EQ(model.logits(batch).to_vector<float>(), before);
}

TEST(DeepSeekConfig, V3ParameterCounts) {
  GptConfig c;
  c.vocab_size = 129280;
  c.d_model = 7168;
  c.n_layer = 61;
  c.n_head = 128;
  c.n_kv_head = 128;
  c.ffn_hidden = 18432;
  c.attention = AttentionKind::mla;
  c.mla = {.q_lora_rank = 1536, .kv_lora_rank = 512, .qk_nope_head_dim = 128, .qk_rope_head_dim = 64, .v_head_dim = 128};
  c.moe.n_routed_experts = 256;
  c.moe.n_shared_experts = 1;
  c.moe.n_activated_experts = 8;
  c.moe.moe_inter_dim = 2048;
  c.moe.n_expert_groups = 8;
  c.moe.n_limited_groups = 4;
  c.moe.first_k_dense = 3;
  c.validate();
  GptConfig one_dense_layer = c;
  one_dense_layer.n_layer = 1;
  one_dense_layer.moe.n_routed_experts = 0;
  one_dense_layer.vocab_size = 0;
  // one layer = attention 187,107,328 + two norms + dense FFN 396,361,728, plus the final norm
  EXPECT_EQ(one_dense_layer.parameter_count(), 187'107'328 + 2 * 7168 + 396'361'728 + 7168);
  EXPECT_NEAR(static_cast<double>(c.parameter_count()) / 1e9, 671.03, 0.005);
  EXPECT_EQ(c.kv_cache_values_per_token(true), 576);
  EXPECT_EQ(c.kv_cache_values_per_token(false), 128 * (192 + 128));
}

}  // namespace
}  // namespace kiln::models
