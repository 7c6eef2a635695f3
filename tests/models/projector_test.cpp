// The projectors of SPEC-VLM §3: Qwen2-VL's 2×2 PatchMerger on merge-ordered
// features equals, per image, the row-major grid reshaped [gh/2, 2, gw/2, 2,
// D], permuted to [gh/2, gw/2, 2, 2, D], flattened and put through LN + MLP;
// pixel shuffle is the same concatenation with the norm after it; the LLaVA
// projectors keep one token per patch.
#include "kiln/models/vlm/projector.hpp"

#include <gtest/gtest.h>

#include "kiln/autograd/ops/activation.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/kernels/cpu/patchify.hpp"
#include "support/reference.hpp"

namespace kiln::models {
namespace {

constexpr int64_t kGh = 4, kGw = 6, kDv = 8, kD = 12;

Tensor row_major_features() {
  Tensor f = Tensor::empty({kGh * kGw, kDv});
  for (int64_t i = 0; i < f.numel(); ++i) f.data<float>()[i] = philox_normal({3, 4}, static_cast<uint64_t>(i));
  return f;
}

// Row (r, c) of the row-major grid moved to its merge-order index.
Tensor to_merge_order(const Tensor& row_major) {
  Tensor out = Tensor::empty(row_major.shape());
  for (int64_t r = 0; r < kGh; ++r)
    for (int64_t c = 0; c < kGw; ++c) {
      const int64_t k = cpu::merge_order_index(r, c, kGw, 2);
      for (int64_t d = 0; d < kDv; ++d) out.data<float>()[k * kDv + d] = row_major.data<float>()[(r * kGw + c) * kDv + d];
    }
  return out;
}

// [gh, gw, D] → [gh/2, 2, gw/2, 2, D] → [gh/2, gw/2, 2, 2, D] → [gh·gw/4, 4D].
Tensor blocks_of(const Tensor& row_major) {
  const Tensor grid = ops::reshape(row_major, {kGh / 2, 2, kGw / 2, 2, kDv});
  return ops::reshape(ops::contiguous(ops::permute(grid, {0, 2, 1, 3, 4})), {kGh * kGw / 4, 4 * kDv});
}

std::map<std::string, Tensor> parameters(const ProjectorShape& shape) {
  std::map<std::string, Tensor> p;
  uint64_t stream = 0;
  add_projector_parameters(p, shape, 0.3, 9, stream);
  // Non-trivial norm gains and biases.
  for (auto& [name, t] : p)
    if (name.find("ln_q") != std::string::npos)
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] += 0.1f * static_cast<float>(i % 5);
  return p;
}

Tensor mlp(const std::map<std::string, Tensor>& p, const Tensor& x) {
  const Tensor h = ops::gelu(ops::linear(x, p.at("visual.merger.mlp.0.weight"), p.at("visual.merger.mlp.0.bias")));
  return ops::linear(h, p.at("visual.merger.mlp.2.weight"), p.at("visual.merger.mlp.2.bias"));
}

TEST(Projector, MergerEqualsReshapePermuteAndMlp) {
  const ProjectorShape shape{ProjectorKind::merger, kDv, kD, 2, 1e-6};
  const auto p = parameters(shape);
  const Tensor f = row_major_features();
  const Tensor normed = ops::layer_norm(f, p.at("visual.merger.ln_q.weight"), p.at("visual.merger.ln_q.bias"), 1e-6);
  const Tensor expected = mlp(p, blocks_of(normed));
  const Tensor merged = project_vision_features(p, shape, to_merge_order(f));
  EXPECT_EQ(merged.shape(), (Shape{kGh * kGw / 4, kD}));
  EXPECT_TRUE(testing::all_close(merged, expected, 1e-6, 1e-6));
}

TEST(Projector, PixelShuffleNormalisesAfterTheConcatenation) {
  const ProjectorShape shape{ProjectorKind::pixel_shuffle, kDv, kD, 2, 1e-6};
  const auto p = parameters(shape);
  const Tensor f = row_major_features();
  const Tensor grouped = blocks_of(f);
  const Tensor expected =
      mlp(p, ops::layer_norm(grouped, p.at("visual.merger.ln_q.weight"), p.at("visual.merger.ln_q.bias"), 1e-6));
  EXPECT_TRUE(testing::all_close(project_vision_features(p, shape, to_merge_order(f)), expected, 1e-6, 1e-6));
}

TEST(Projector, LlavaProjectorsKeepEveryPatch) {
  for (ProjectorKind kind : {ProjectorKind::mlp2x_gelu, ProjectorKind::linear}) {
    const ProjectorShape shape{kind, kDv, kD, 2, 1e-6};
    EXPECT_EQ(shape.patches_per_token(), 1);
    const Tensor out = project_vision_features(parameters(shape), shape, row_major_features());
    EXPECT_EQ(out.shape(), (Shape{kGh * kGw, kD}));
  }
  EXPECT_THROW(parse_projector("resampler"), Error);
  const ProjectorShape merger{ProjectorKind::merger, kDv, kD, 2, 1e-6};
  EXPECT_THROW(project_vision_features(parameters(merger), merger, Tensor::zeros({6, kDv})), Error);
}

}  // namespace
}  // namespace kiln::models
