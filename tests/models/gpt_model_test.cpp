// The decoder LM against a hand-written PyTorch implementation of the same
// architecture (tests/reference/gpt_model.py): loss and every parameter's
// gradient, dense and packed, with and without gradient checkpointing, for
// both the LLaMA/DeepSeek block and GPT-2; and KV-cache decoding against a
// full forward.
#include "kiln/models/gpt/model.hpp"

#include <gtest/gtest.h>

#include "kiln/autograd/engine.hpp"
#include "kiln/models/gpt/generate.hpp"
#include "support/reference.hpp"

namespace kiln::models {
namespace {

GptConfig tiny_config(DecoderArch arch) {
  GptConfig c;
  c.arch = arch;
  c.vocab_size = 48;
  c.d_model = 32;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = arch == DecoderArch::llama ? 2 : 4;
  c.ffn_hidden = 64;
  c.max_seq_len = 12;
  c.norm_eps = arch == DecoderArch::llama ? 1e-6 : 1e-5;
  c.tie_embeddings = arch == DecoderArch::gpt2;
  return c;
}

GptModel reference_model(DecoderArch arch, const io::TensorMap& ref) {
  GptModel model(tiny_config(arch), 0);
  const std::string prefix = (arch == DecoderArch::llama ? "llama" : "gpt2") + std::string(".param.");
  std::map<std::string, Tensor> weights;
  for (const auto& [key, value] : ref)
    if (key.rfind(prefix, 0) == 0) weights[key.substr(prefix.size())] = value;
  model.load_parameters(weights);
  return model;
}

struct Variant {
  DecoderArch arch;
  bool packed;
  bool checkpointing;
};

class GptModelParity : public ::testing::TestWithParam<Variant> {};

TEST_P(GptModelParity, LossAndGradientsMatchPyTorch) {
  const Variant v = GetParam();
  const io::TensorMap ref = testing::load_reference("gpt_model");
  GptModel model = reference_model(v.arch, ref);
  const std::string base = std::string(v.arch == DecoderArch::llama ? "llama" : "gpt2") + (v.packed ? ".packed." : ".");
  DecoderBatch batch;
  batch.tokens = testing::at(ref, base + "tokens");
  batch.targets = testing::at(ref, base + "targets");
  if (v.packed) {
    batch.positions = testing::at(ref, base + "positions");
    batch.cu_seqlens = testing::at(ref, base + "cu_seqlens");
  }
  const Tensor loss = model.loss(batch, {.gradient_checkpointing = v.checkpointing});
  EXPECT_NEAR(loss.item(), testing::at(ref, base + "loss").item(), 2e-5);
  backward(loss);
  for (const auto& [name, param] : model.parameters())
    EXPECT_TRUE(testing::all_close(param.grad(), testing::at(ref, base + "grad." + name), 1e-4, 2e-5)) << name;
}

INSTANTIATE_TEST_SUITE_P(
    All, GptModelParity,
    ::testing::Values(Variant{DecoderArch::llama, false, false}, Variant{DecoderArch::llama, true, false},
                      Variant{DecoderArch::llama, false, true}, Variant{DecoderArch::llama, true, true},
                      Variant{DecoderArch::gpt2, false, false}, Variant{DecoderArch::gpt2, true, false},
                      Variant{DecoderArch::gpt2, false, true}),
    [](const auto& info) {
      return std::string(info.param.arch == DecoderArch::llama ? "llama" : "gpt2") +
             (info.param.packed ? "_packed" : "_dense") + (info.param.checkpointing ? "_checkpointed" : "");
    });

TEST(GptModel, KvCacheDecodingEqualsFullForward) {
  for (DecoderArch arch : {DecoderArch::llama, DecoderArch::gpt2}) {
    const io::TensorMap ref = testing::load_reference("gpt_model");
    GptModel model = reference_model(arch, ref);
    const Tensor tokens = testing::at(ref, std::string(arch == DecoderArch::llama ? "llama" : "gpt2") + ".tokens");
    const Tensor row = tokens.select(0, 0).contiguous();
    DecoderBatch batch;
    batch.tokens = row.reshape({1, row.numel()});
    const Tensor full = model.logits(batch).select(0, 0);
    KvCache cache = model.new_cache(row.numel());
    // a prompt of 5 tokens at once, then one token at a time
    const Tensor first = model.decode(row.narrow(0, 0, 5).contiguous(), cache);
    EXPECT_TRUE(testing::all_close(first, full.narrow(0, 0, 5), 1e-5, 1e-5));
    for (int64_t t = 5; t < row.numel(); ++t) {
      const Tensor step = model.decode(row.narrow(0, t, 1).contiguous(), cache);
      EXPECT_TRUE(testing::all_close(step, full.narrow(0, t, 1), 1e-5, 1e-5)) << "position " << t;
    }
  }
}

// Decoding multiplies one row at a time (cpu::gemv) and attends over the
// cache (cpu::cached_attention); the full forward runs oneDNN's GEMM and the
// flash-style kernel. Greedy ids must not depend on which computed them.
TEST(GptModel, GreedyIdsEqualTheFullForwardsChoices) {
  for (DecoderArch arch : {DecoderArch::llama, DecoderArch::gpt2}) {
    const GptModel model = reference_model(arch, testing::load_reference("gpt_model"));
    SamplingOptions greedy;
    greedy.temperature = 0;
    const std::vector<int32_t> prompt = {3, 41, 7, 19, 2};
    const std::vector<int32_t> ids = generate(model, prompt, 7, greedy);
    ASSERT_EQ(ids.size(), 7u);
    std::vector<int64_t> sequence(prompt.begin(), prompt.end());
    sequence.insert(sequence.end(), ids.begin(), ids.end());
    const auto length = static_cast<int64_t>(sequence.size());
    DecoderBatch batch;
    batch.tokens = Tensor::empty({1, length}, DType::i64);
    std::copy(sequence.begin(), sequence.end(), batch.tokens.data<int64_t>());
    const Tensor logits = model.logits(batch).contiguous();
    const int64_t vocab = model.config().vocab_size;
    for (size_t i = 0; i < ids.size(); ++i) {
      const float* row = logits.data<float>() + (static_cast<int64_t>(prompt.size() + i) - 1) * vocab;
      EXPECT_EQ(std::max_element(row, row + vocab) - row, ids[i]) << "new token " << i;
    }
  }
}

TEST(GptModel, WithWeightsEqualsLoadingIntoARandomModel) {
  const io::TensorMap ref = testing::load_reference("gpt_model");
  const GptModel loaded = reference_model(DecoderArch::llama, ref);
  std::map<std::string, Tensor> weights;
  for (const auto& [name, value] : loaded.parameters()) weights[name] = value;
  const GptModel direct = GptModel::with_weights(tiny_config(DecoderArch::llama), weights);
  DecoderBatch batch;
  batch.tokens = testing::at(ref, "llama.tokens");
  EXPECT_EQ(testing::max_abs_diff(direct.logits(batch), loaded.logits(batch)), 0.0);
  for (const auto& [name, value] : direct.parameters())
    EXPECT_EQ(value.requires_grad(), loaded.parameters().at(name).requires_grad()) << name;
  weights.erase(weights.begin());
  EXPECT_THROW(GptModel::with_weights(tiny_config(DecoderArch::llama), weights), Error);
}

TEST(GptModel, ParameterCountsAndErrors) {
  GptConfig gpt2;
  gpt2.arch = DecoderArch::gpt2;
  gpt2.vocab_size = 50257;
  gpt2.max_seq_len = 1024;
  gpt2.d_model = 768;
  gpt2.n_layer = 12;
  gpt2.n_head = gpt2.n_kv_head = 12;
  gpt2.tie_embeddings = true;
  EXPECT_EQ(gpt2.parameter_count(), 124'439'808);  // the figure llm.c prints for GPT-2 124M
  EXPECT_EQ(llama_ffn_width(4096, 256), 11008);
  EXPECT_EQ(llama_ffn_width(8192, 256), 22016);
  GptModel model(tiny_config(DecoderArch::llama), 1);
  int64_t counted = 0;
  for (const auto& [name, p] : model.parameters()) counted += p.numel();
  EXPECT_EQ(counted, tiny_config(DecoderArch::llama).parameter_count());
  GptConfig bad = tiny_config(DecoderArch::llama);
  bad.n_kv_head = 3;
  EXPECT_THROW(bad.validate(), Error);
  DecoderBatch too_long;
  too_long.tokens = Tensor::zeros({1, 13}, DType::i64);
  too_long.targets = too_long.tokens;
  EXPECT_THROW(model.loss(too_long), Error);
}

}  // namespace
}  // namespace kiln::models
