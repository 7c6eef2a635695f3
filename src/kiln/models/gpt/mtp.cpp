// Multi-token prediction (DeepSeek-V3, arXiv 2412.19437, §2.2): D sequential
// modules, each one token further ahead, sharing the embedding and the output
// head. Depth k at position i joins h^{k−1}_i with Emb(x_{i+k}) and predicts
// x_{i+k+1}. Sequences keep their length: positions whose token i+k lies
// beyond their document get no target (and nothing valid attends to them).
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/models/gpt/model.hpp"

namespace kiln::models {

namespace {

// For each position, the end (exclusive, flat index) of its document.
std::vector<int64_t> document_ends(const DecoderBatch& batch) {
  const int64_t rows = batch.tokens.size(0), length = batch.tokens.size(1);
  std::vector<int64_t> ends(static_cast<size_t>(rows * length));
  if (!batch.cu_seqlens.defined()) {
    for (int64_t i = 0; i < rows * length; ++i) ends[i] = (i / length + 1) * length;
    return ends;
  }
  const Tensor cu = batch.cu_seqlens.to(DType::i64).contiguous();
  const int64_t* bounds = cu.data<int64_t>();
  for (int64_t s = 0; s + 1 < cu.numel(); ++s)
    for (int64_t i = bounds[s]; i < bounds[s + 1]; ++i) ends[i] = bounds[s + 1];
  return ends;
}

}  // namespace

Tensor GptModel::mtp_loss(const DecoderBatch& batch, const DecoderOptions& options, const Tensor& main_hidden,
                          Tensor& balance, double& mean_loss) const {
  const GptConfig& c = config_;
  const int64_t rows = batch.tokens.size(0), length = batch.tokens.size(1), n = rows * length;
  const std::vector<int64_t> ends = document_ends(batch);
  const Tensor tokens = batch.tokens.to(DType::i64).contiguous(), targets = batch.targets.to(DType::i64).contiguous();
  Tensor positions = batch.positions;
  if (!positions.defined()) {
    positions = Tensor::empty({rows, length}, DType::i64);
    for (int64_t i = 0; i < n; ++i) positions.data<int64_t>()[i] = i % length;
  }
  ops::CrossEntropyOptions ce;
  ce.normalizer = options.loss_normalizer;
  Tensor previous = main_hidden, total;
  for (int64_t k = 1; k <= c.mtp_depth; ++k) {
    Tensor shifted_tokens = Tensor::zeros({rows, length}, DType::i64);
    Tensor shifted_targets = Tensor::full({rows, length}, -100.0, DType::i64);
    for (int64_t i = 0; i < n; ++i) {
      if (i + k >= ends[i]) continue;
      shifted_tokens.data<int64_t>()[i] = tokens.data<int64_t>()[i + k];
      shifted_targets.data<int64_t>()[i] = targets.data<int64_t>()[i + k];
    }
    const int64_t layer = c.n_layer + k - 1;
    const std::string p = layer_prefix(layer);
    // Embedding first, as in the released V3 weights and deepseek-ai/DeepSeek-V3's inference code
    // (the V3 report, §2.2, writes the hidden state first).
    const Tensor joined = ops::concat({ops::rms_norm(embed(shifted_tokens), param(p + "enorm.weight"), c.norm_eps),
                                       ops::rms_norm(previous, param(p + "hnorm.weight"), c.norm_eps)},
                                      -1);
    const Tensor x = ops::linear(joined, param(p + "eh_proj.weight"));
    const Tensor h = run_block(layer, x, positions, batch.cu_seqlens, options, balance);
    const Tensor depth_loss =
        head_loss(ops::rms_norm(h, param(p + "shared_head.norm.weight"), c.norm_eps), shifted_targets, ce);
    total = total.defined() ? ops::add(total, depth_loss) : depth_loss;
    previous = h;
  }
  total = ops::scale(total, 1.0 / static_cast<double>(c.mtp_depth));
  mean_loss = total.item();
  return total;
}

Tensor GptModel::mtp_decode(const Tensor& hidden, const Tensor& tokens, KvCache& cache) const {
  NoGradGuard no_grad;
  const GptConfig& c = config_;
  KILN_CHECK(c.mtp_depth >= 1 && cache.first_layer == c.n_layer, "mtp_decode needs the cache from new_mtp_cache()");
  cache.check_room(tokens, "mtp_decode");
  KILN_CHECK(hidden.dim() == 2 && hidden.size(0) == tokens.size(0) && hidden.size(1) == c.d_model,
             "mtp_decode: hidden {} must be [T = {}, d]", hidden.describe(), tokens.size(0));
  const int64_t t_new = tokens.size(0);
  const Tensor positions = cache.next_positions(t_new);
  const std::string p = layer_prefix(c.n_layer);
  const Tensor joined =
      ops::concat({ops::rms_norm(embed(tokens.to(DType::i64).reshape({1, t_new})), param(p + "enorm.weight"), c.norm_eps),
                   ops::rms_norm(hidden.reshape({1, t_new, c.d_model}), param(p + "hnorm.weight"), c.norm_eps)},
                  -1);
  const Tensor h = decode_block(c.n_layer, ops::linear(joined, param(p + "eh_proj.weight")), positions, cache);
  cache.length += t_new;
  return head(ops::rms_norm(h, param(p + "shared_head.norm.weight"), c.norm_eps)).reshape({t_new, c.vocab_size});
}

}  // namespace kiln::models
