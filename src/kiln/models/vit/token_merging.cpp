#include "kiln/models/vit/token_merging.hpp"

#include <algorithm>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/embedding.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/kernels/cpu/token_merging.hpp"

namespace kiln::models {

int64_t tome_merges(int64_t r, int64_t tokens, bool class_token) {
  KILN_CHECK(r >= 0, "ToMe: r must not be negative, got {}", r);
  return std::max<int64_t>(0, std::min(r, (tokens - (class_token ? 1 : 0)) / 2));
}

SizedTokens merge_tokens(const SizedTokens& tokens, const Tensor& metric, int64_t merges, bool class_token) {
  const Tensor& x = tokens.x;
  KILN_CHECK(x.dim() == 3 && metric.dim() == 3 && metric.size(0) == x.size(0) && metric.size(1) == x.size(1),
             "merge_tokens: tokens {} and metric {} must be [B, t, ·] alike", x.describe(), metric.describe());
  const int64_t b = x.size(0), t = x.size(1), d = x.size(2);
  KILN_CHECK(!tokens.sizes.defined() || tokens.sizes.shape() == Shape({b, t}),
             "merge_tokens: sizes {} must be [B, t] = [{}, {}]", tokens.sizes.describe(), b, t);
  KILN_CHECK(merges >= 0 && merges <= (t - (class_token ? 1 : 0)) / 2,
             "merge_tokens: {} merges of {} tokens; at most half of the mergeable ones can go", merges, t);
  if (merges == 0) return tokens;
  const int64_t kept = t - merges, rows = b * kept;
  Tensor destination = Tensor::empty({b * t}, DType::i64);
  Tensor weights = Tensor::empty({b * t, 1}, x.dtype()), sizes = Tensor::empty({b, kept}, x.dtype());
  {
    NoGradGuard no_grad;
    const Tensor m = metric.detach().to(x.dtype()).contiguous();
    const Tensor s = tokens.sizes.defined() ? tokens.sizes.detach().to(x.dtype()).contiguous() : Tensor();
    KILN_DISPATCH_FLOATING(x.dtype(), "merge_tokens", [&] {
      cpu::bipartite_soft_matching(m.data<scalar_t>(), {b, t, m.size(2), merges, class_token},
                                   destination.data<int64_t>());
      cpu::merge_weights(s.defined() ? s.data<scalar_t>() : nullptr, destination.data<int64_t>(), b * t, rows,
                         weights.data<scalar_t>(), sizes.data<scalar_t>());
    });
  }
  const Tensor weighted = ops::mul(ops::reshape(x, {b * t, d}), weights);
  return {ops::reshape(ops::scatter_add_rows(weighted, destination, rows), {b, kept, d}), sizes};
}

Tensor proportional_attention_bias(const Tensor& sizes) {
  if (!sizes.defined()) return {};
  NoGradGuard no_grad;
  return ops::log(sizes.detach());
}

Tensor size_weighted_mean(const SizedTokens& tokens, int64_t first) {
  const Tensor& x = tokens.x;
  const int64_t count = x.size(1) - first;
  KILN_CHECK(count >= 1, "size_weighted_mean: no tokens after the first {} of {}", first, x.describe());
  const Tensor members = ops::narrow(x, 1, first, count);
  if (!tokens.sizes.defined()) return ops::mean(members, 1);
  const Tensor sizes = tokens.sizes.detach().narrow(1, first, count).contiguous();
  const Tensor total = ops::sum(sizes, 1, true);  // [B, 1]: the patches these tokens stand for
  return ops::div(ops::sum(ops::mul(members, sizes.reshape({x.size(0), count, 1})), 1), total);
}

}  // namespace kiln::models
