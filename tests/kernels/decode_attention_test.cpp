// Attention over a KV cache (cpu::cached_attention) against a plain f64
// softmax loop: grouped-query heads, several new queries after a cached
// prefix, sizes off the vector width; and the same result on 1 and 2
// threads once the context is long enough to split the heads.
#include "kiln/kernels/cpu/decode_attention.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kiln/base/threads.hpp"

#include "support/random_values.hpp"

namespace kiln::cpu {
namespace {

std::vector<float> random_values(int64_t n, uint64_t stream) { return testing::random_values(n, 11, stream); }

struct Case {
  CachedAttentionShape shape;
  std::vector<float> q, keys, values;
};

Case make_case(const CachedAttentionShape& s) {
  const int64_t rows = s.start + s.t_new + 2;  // a cache with room to spare
  return {s, random_values(s.t_new * s.heads * s.dk, 1), random_values(rows * s.kv_heads * s.dk, 2),
          random_values(rows * s.kv_heads * s.dv, 3)};
}

std::vector<float> attend(const Case& c, float scale) {
  const CachedAttentionShape& s = c.shape;
  std::vector<float> out(static_cast<size_t>(s.t_new * s.heads * s.dv));
  cached_attention(c.q.data(), c.keys.data(), c.values.data(), s, scale, out.data());
  return out;
}

TEST(CachedAttention, MatchesAPlainSoftmaxLoop) {
  const CachedAttentionShape s{.t_new = 3, .heads = 6, .kv_heads = 2, .dk = 20, .dv = 13, .start = 37};
  const Case c = make_case(s);
  const float scale = 0.3f;
  const std::vector<float> out = attend(c, scale);
  for (int64_t t = 0; t < s.t_new; ++t)
    for (int64_t h = 0; h < s.heads; ++h) {
      const int64_t g = h / (s.heads / s.kv_heads), visible = s.start + t + 1;
      const float* query = &c.q[(t * s.heads + h) * s.dk];
      auto key = [&](int64_t j) { return &c.keys[(j * s.kv_heads + g) * s.dk]; };
      auto value = [&](int64_t j) { return &c.values[(j * s.kv_heads + g) * s.dv]; };
      std::vector<double> weights(static_cast<size_t>(visible));
      double best = -1e300, total = 0;
      for (int64_t j = 0; j < visible; ++j) {
        double dot = 0;
        for (int64_t i = 0; i < s.dk; ++i) dot += double(query[i]) * key(j)[i];
        weights[j] = scale * dot;
        best = std::max(best, weights[j]);
      }
      for (double& w : weights) total += w = std::exp(w - best);
      for (int64_t i = 0; i < s.dv; ++i) {
        double expected = 0;
        for (int64_t j = 0; j < visible; ++j) expected += weights[j] / total * value(j)[i];
        EXPECT_NEAR(out[(t * s.heads + h) * s.dv + i], expected, 2e-6) << "query " << t << " head " << h;
      }
    }
}

TEST(CachedAttention, ResultDoesNotDependOnTheThreadCount) {
  const CachedAttentionShape s{.t_new = 2, .heads = 8, .kv_heads = 4, .dk = 64, .dv = 64, .start = 300};
  const Case c = make_case(s);
  std::vector<float> one, two;
  {
    NumThreadsGuard threads(1);
    one = attend(c, 0.125f);
  }
  {
    NumThreadsGuard threads(2);
    two = attend(c, 0.125f);
  }
  EXPECT_EQ(one, two);
}

}  // namespace
}  // namespace kiln::cpu
