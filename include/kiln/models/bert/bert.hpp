#pragma once
// BERT (Devlin et al. 2019, arXiv 1810.04805): token + segment + position
// embeddings with LayerNorm, post-LN encoder layers (erf GELU, ε 1e-12),
// the masked-LM head (dense + GELU + LayerNorm, decoder tied to the token
// embeddings, own output bias), the tanh pooler and a sequence classifier.
// Parameters carry Hugging Face BERT names ("bert.encoder.layer.0.attention.self.query.weight").
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

struct BertConfig {
  int64_t vocab_size = 4096;
  int64_t d_model = 128;
  int64_t n_layer = 2;
  int64_t n_head = 2;
  int64_t ffn_dim = 512;
  int64_t max_positions = 512;
  int64_t type_vocab = 2;
  double norm_eps = 1e-12;
  double init_std = 0.02;
  double dropout = 0.1;
  int64_t n_classes = 0;  // > 0: a classifier on the pooled [CLS] state
  void validate() const;
  int64_t parameter_count(bool with_mlm_head) const;
};

struct BertBatch {
  Tensor tokens;     // i64 [B, L]
  Tensor segments;   // i64 [B, L]; undefined = all 0
  Tensor attention;  // u8 [B, L], 1 = real token; undefined = all real
};

class BertModel {
 public:
  // Parameters of the encoder, the pooler, the MLM head, and the classifier when n_classes > 0.
  BertModel(BertConfig config, uint64_t seed);
  const BertConfig& config() const { return config_; }
  std::map<std::string, Tensor>& parameters() { return parameters_; }
  const std::map<std::string, Tensor>& parameters() const { return parameters_; }
  // Replaces the parameters that `weights` names; with `partial`, others keep their values.
  void load_parameters(const std::map<std::string, Tensor>& weights, bool partial = false);

  // Dropout draws come from (seed, step); training = false turns it off.
  Tensor encode(const BertBatch& batch, bool training, uint64_t seed = 0, uint64_t step = 0) const;  // [B, L, H]
  // Masked-LM loss: mean cross-entropy over positions whose label is not −100.
  Tensor mlm_loss(const BertBatch& batch, const Tensor& labels, bool training, uint64_t seed = 0,
                  uint64_t step = 0) const;
  // Logits [B, classes] from tanh(W·h_[CLS] + b).
  Tensor classify(const BertBatch& batch, bool training, uint64_t seed = 0, uint64_t step = 0) const;

 private:
  const Tensor& param(const std::string& name) const;
  Tensor dropout(const Tensor& x, bool training, uint64_t seed, uint64_t stream) const;
  BertConfig config_;
  std::map<std::string, Tensor> parameters_;
};

// Masked-LM selection as Hugging Face's collator (and RoBERTa's dynamic
// masking): every maskable position is chosen with probability `rate`;
// chosen → [MASK] 80%, a uniformly random vocabulary id 10%, unchanged 10%.
// With whole_word, a position whose token continues a word ("##…") follows
// the decision of the word's first piece. Returns labels (−100 = not chosen)
// and rewrites `tokens` in place.
struct MaskingOptions {
  double rate = 0.15;
  int32_t mask_id = 0;
  int64_t vocab_size = 0;
  bool whole_word = false;
};
Tensor mask_tokens(Tensor& tokens, const std::vector<uint8_t>& maskable, const std::vector<uint8_t>& continues_word,
                   const MaskingOptions& options, uint64_t seed, uint64_t draw);

}  // namespace kiln::models
