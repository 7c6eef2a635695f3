#pragma once
// ToMe (Token Merging, Bolya et al., arXiv 2210.09461) as kiln's ViT uses it,
// following facebookresearch/ToMe's tome/merge.py and tome/patch/timm.py:
// between attention and MLP, each block merges r of its tokens into others
// by bipartite soft matching on its keys; a merged token is the size-weighted
// average of its members and carries their total size, and later blocks add
// ln(size) to every attention logit of that key (proportional attention).
// The batch shares one token count, so every image loses the same number.
#include <cstdint>

#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

// Tokens [B, t, D] and how many patches each one stands for: sizes [B, t] in
// the tokens' dtype, or undefined while no token has been merged (every size
// is 1, and a model without merging runs exactly as it does without ToMe).
struct SizedTokens {
  Tensor x;
  Tensor sizes;
};

// ToMe's r_eff = min(r, (t − p) div 2), p = 1 with a class token: the tokens a
// block with ToMe's r removes from t (at most half of the mergeable ones).
int64_t tome_merges(int64_t r, int64_t tokens, bool class_token);

// The merge step: `metric` [B, t, c] (the block's keys averaged over heads;
// it gets no gradient) matched bipartitely (cpu::bipartite_soft_matching),
// then `merges` tokens of each image averaged into their matches, weighted by
// size. Gradients flow into `tokens.x` through the averages. The class token
// stays first; merges = 0 returns `tokens` untouched.
SizedTokens merge_tokens(const SizedTokens& tokens, const Tensor& metric, int64_t merges, bool class_token);

// Proportional attention's key bias ln(size) [B, t] for ops::attention;
// undefined when the sizes are (all 1: no bias).
Tensor proportional_attention_bias(const Tensor& sizes);

// The mean of tokens x[:, first:] weighted by their sizes → [B, D]: ToMe's
// global average pool (its MAE patch), which weighs every original patch
// equally however the tokens were merged.
Tensor size_weighted_mean(const SizedTokens& tokens, int64_t first);

}  // namespace kiln::models
