// BERT against a hand-written PyTorch reference (tests/reference/bert.py):
// the encoder output with a padded row, the masked-LM loss with its tied
// decoder, the pooled classifier, and every gradient of both losses; the
// padding invariance of real positions; masking statistics (15%, 80/10/10,
// whole words, special tokens never chosen); parameter counts.
#include <gtest/gtest.h>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/models/bert/bert.hpp"
#include "support/reference.hpp"

namespace kiln::models {
namespace {

BertConfig tiny_bert() {
  BertConfig c;
  c.vocab_size = 30;
  c.d_model = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.ffn_dim = 32;
  c.max_positions = 16;
  c.n_classes = 3;
  return c;
}

BertModel reference_model(const io::TensorMap& ref) {
  BertModel model(tiny_bert(), 0);
  std::map<std::string, Tensor> weights;
  for (const auto& [key, value] : ref)
    if (key.rfind("param.", 0) == 0) weights[key.substr(6)] = value;
  model.load_parameters(weights);
  return model;
}

BertBatch reference_batch(const io::TensorMap& ref) {
  return {testing::at(ref, "tokens"), testing::at(ref, "segments"), testing::at(ref, "attention")};
}

TEST(Bert, EncoderMlmAndClassifierMatchPyTorch) {
  const io::TensorMap ref = testing::load_reference("bert");
  {
    BertModel model = reference_model(ref);
    const Tensor hidden = model.encode(reference_batch(ref), false);
    // Real positions only: PyTorch's padded queries attend like the real ones, kiln's too, but compare what matters.
    EXPECT_TRUE(testing::all_close(hidden.narrow(0, 0, 1), testing::at(ref, "hidden").narrow(0, 0, 1), 1e-4, 1e-5));
    EXPECT_TRUE(testing::all_close(hidden.narrow(0, 1, 1).narrow(1, 0, 4),
                                   testing::at(ref, "hidden").narrow(0, 1, 1).narrow(1, 0, 4), 1e-4, 1e-5));
    const Tensor mlm = model.mlm_loss(reference_batch(ref), testing::at(ref, "labels"), false);
    EXPECT_NEAR(mlm.item(), testing::at(ref, "mlm_loss").item(), 1e-5);
    backward(mlm);
    for (const auto& [name, p] : model.parameters()) {
      const std::string key = "mlm_grad." + name;
      if (ref.count(key) == 0) {
        EXPECT_FALSE(p.grad().defined()) << name << " should get no MLM gradient";
        continue;
      }
      EXPECT_TRUE(testing::all_close(p.grad(), testing::at(ref, key), 1e-4, 2e-5)) << name;
    }
  }
  {
    BertModel model = reference_model(ref);
    const Tensor logits = model.classify(reference_batch(ref), false);
    EXPECT_TRUE(testing::all_close(logits, testing::at(ref, "cls_logits"), 1e-4, 1e-5));
    const Tensor loss = ops::cross_entropy(logits, testing::at(ref, "classes"));
    backward(loss);
    for (const auto& [name, p] : model.parameters()) {
      const std::string key = "cls_grad." + name;
      if (ref.count(key) == 0) continue;
      EXPECT_TRUE(testing::all_close(p.grad(), testing::at(ref, key), 1e-4, 2e-5)) << name;
    }
  }
}

TEST(Bert, RealPositionsIgnorePadding) {
  const io::TensorMap ref = testing::load_reference("bert");
  const BertModel model = reference_model(ref);
  NoGradGuard no_grad;
  BertBatch short_batch;
  short_batch.tokens = Tensor::from<int64_t>({2, 8, 6, 3}, {1, 4});
  BertBatch padded;
  padded.tokens = Tensor::from<int64_t>({2, 8, 6, 3, 0, 0, 0, 0}, {1, 8});
  padded.attention = Tensor::from<uint8_t>({1, 1, 1, 1, 0, 0, 0, 0}, {1, 8});
  const Tensor a = model.encode(short_batch, false), b = model.encode(padded, false).narrow(1, 0, 4);
  EXPECT_TRUE(testing::all_close(a, b, 1e-5, 1e-6));
}

TEST(Bert, MaskingStatistics) {
  const int64_t n = 100000;
  Tensor tokens = Tensor::empty({n}, DType::i64);
  std::vector<uint8_t> maskable(n, 1), continues(n, 0);
  for (int64_t i = 0; i < n; ++i) {
    tokens.data<int64_t>()[i] = 5 + i % 20;
    if (i % 50 == 0) maskable[i] = 0;  // [CLS]/[SEP]/[PAD] positions
  }
  const Tensor original = tokens.clone();
  const Tensor labels = mask_tokens(tokens, maskable, continues, {.rate = 0.15, .mask_id = 4, .vocab_size = 30}, 1, 0);
  int64_t chosen = 0, masked = 0, kept = 0, special_chosen = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (labels.data<int64_t>()[i] == -100) {
      EXPECT_EQ(tokens.data<int64_t>()[i], original.data<int64_t>()[i]);
      continue;
    }
    ++chosen;
    special_chosen += maskable[i] == 0;
    EXPECT_EQ(labels.data<int64_t>()[i], original.data<int64_t>()[i]);
    masked += tokens.data<int64_t>()[i] == 4;
    kept += tokens.data<int64_t>()[i] == original.data<int64_t>()[i];
  }
  const double maskable_count = n - n / 50;
  EXPECT_NEAR(chosen / maskable_count, 0.15, 0.005);
  EXPECT_NEAR(static_cast<double>(masked) / chosen, 0.8, 0.01);
  // 10% unchanged plus the random draws that hit the original id (1 in 30 of 10%)
  EXPECT_NEAR(static_cast<double>(kept) / chosen, 0.1 + 0.1 / 30, 0.01);
  EXPECT_EQ(special_chosen, 0);
  // Whole-word masking: a continuation piece follows its word's first piece.
  Tensor words = Tensor::empty({n}, DType::i64);
  std::vector<uint8_t> all(n, 1), cont(n, 0);
  for (int64_t i = 0; i < n; ++i) {
    words.data<int64_t>()[i] = 5;
    cont[i] = i % 3 != 0;  // words of three pieces
  }
  const Tensor wl = mask_tokens(words, all, cont, {.rate = 0.15, .mask_id = 4, .vocab_size = 30, .whole_word = true}, 2, 0);
  for (int64_t i = 0; i + 2 < n; i += 3) {
    const bool first = wl.data<int64_t>()[i] != -100;
    EXPECT_EQ(wl.data<int64_t>()[i + 1] != -100, first);
    EXPECT_EQ(wl.data<int64_t>()[i + 2] != -100, first);
  }
}

TEST(Bert, ParameterCounts) {
  BertConfig base;
  base.vocab_size = 30522;
  base.d_model = 768;
  base.n_layer = 12;
  base.n_head = 12;
  base.ffn_dim = 3072;
  EXPECT_EQ(base.parameter_count(false), 109'482'240);  // BertModel with pooler
  const BertModel tiny(tiny_bert(), 1);
  int64_t counted = 0;
  for (const auto& entry : tiny.parameters()) counted += entry.second.numel();
  EXPECT_EQ(tiny_bert().parameter_count(true), counted);
}

}  // namespace
}  // namespace kiln::models
