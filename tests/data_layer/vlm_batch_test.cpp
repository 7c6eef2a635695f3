// Vision-language batches (SPEC-VLM §5.2–§6.3): the worked example of §6.3
// in both layouts, answer-only targets shifted inside each sample, M-RoPE ids
// per sample, and the errors of §11.
#include <gtest/gtest.h>

#include <numeric>

#include "kiln/base/error.hpp"
#include "kiln/data/sample_packing.hpp"
#include "kiln/data/vlm_batch.hpp"

namespace kiln::data {
namespace {

// A grid of P = 4 patches of one channel (16 values each), patch k filled with `tag + k`.
SampleImage image(int64_t height_px, int64_t width_px, float tag) {
  SampleImage im{height_px / 4, width_px / 4, {}};
  for (int64_t k = 0; k < im.patch_count(); ++k)
    for (int v = 0; v < 16; ++v) im.patches.push_back(tag + static_cast<float>(k));
  return im;
}

std::vector<VlmSample> worked_example() {
  return {{{image(16, 24, 0)}, "", "coat"},
          {{image(16, 16, 100), image(24, 32, 200)}, "", "bag, sandal"},
          {{image(32, 32, 300)}, "", "trouser"}};
}

template <typename T>
std::vector<T> values(const Tensor& t) {
  return t.to_vector<T>();
}

TEST(VlmBatch, SampleSizesAreTheWorkedExample) {
  const auto samples = worked_example();
  EXPECT_EQ(sample_llm_tokens(samples[0], 4), 13);
  EXPECT_EQ(sample_llm_tokens(samples[1], 4), 32);
  EXPECT_EQ(sample_llm_tokens(samples[2], 4), 26);
  EXPECT_EQ(sample_vision_tokens(samples[1]), 64);
  for (const VlmSample& s : samples)
    EXPECT_EQ(static_cast<int64_t>(sample_text(s, 4).tokens.size()), sample_llm_tokens(s, 4));
}

TEST(VlmBatch, RmpadPackOfTheWorkedExample) {
  const auto samples = worked_example();
  const VlmBatch b = make_vlm_batch(std::span(samples).first(2), 4, VlmLayout::rmpad);
  EXPECT_EQ(values<int32_t>(b.cu_seqlens), (std::vector<int32_t>{0, 13, 45}));
  EXPECT_EQ(values<int32_t>(b.vision_cu_seqlens), (std::vector<int32_t>{0, 24, 40, 88}));
  EXPECT_EQ(b.tokens.shape(), (Shape{1, 45}));
  EXPECT_EQ(b.patches.shape(), (Shape{88, 16}));
  EXPECT_EQ(b.real_tokens, 45);
  EXPECT_EQ(b.token_slots, 45);
  // Sample A: positions 7–11 (<ve> c o a t) predict "c o a t <eos>"; nothing else of A is a target.
  const auto targets = values<int64_t>(b.targets);
  const std::vector<int64_t> a_targets{'c', 'o', 'a', 't', VlmTokens::endoftext};
  for (int64_t j = 0; j < 13; ++j)
    EXPECT_EQ(targets[j], j >= 7 && j <= 11 ? a_targets[j - 7] : -100) << j;
  EXPECT_EQ(targets[12], -100);  // A's <eos> predicts nothing: B's first token is another sample
  EXPECT_EQ(b.target_count, 5 + 12);
  // The placeholders: 6 of A, then 4 + 12 of B.
  EXPECT_EQ(b.placeholder_rows.numel(), 22);
  EXPECT_EQ(values<int64_t>(b.placeholder_rows)[0], 1);
  EXPECT_EQ(values<int64_t>(b.placeholder_rows)[6], 13 + 1);
  // Positions restart at 0 in B; B's first image pads share t.
  const auto pos = values<int64_t>(b.positions);
  EXPECT_EQ(pos[13], 0);
  EXPECT_EQ(pos[14], 1);
  EXPECT_EQ(pos[45 + 2], 1);   // h of A's second pad (row 0)
  EXPECT_EQ(pos[45 + 5], 2);   // h of A's fourth pad (row 1)
  // Patches keep sample order: A's, then B's first image, then B's second.
  EXPECT_EQ(b.patches.to_vector<float>()[24 * 16], 100.0f);
  EXPECT_EQ(b.patches.to_vector<float>()[40 * 16], 200.0f);
}

TEST(VlmBatch, PaddedPackOfTheWorkedExample) {
  const auto samples = worked_example();
  const VlmBatch rm = make_vlm_batch(std::span(samples).first(2), 4, VlmLayout::rmpad);
  const VlmBatch b = make_vlm_batch(std::span(samples).first(2), 4, VlmLayout::padded);
  EXPECT_EQ(b.tokens.shape(), (Shape{2, 32}));
  EXPECT_FALSE(b.cu_seqlens.defined());
  EXPECT_EQ(b.token_slots - b.real_tokens, 19);  // 19 of 64 slots (29.7 %) are padding
  // The packing layer's bookkeeping of the same pack agrees.
  std::vector<SampleTokens> sizes;
  for (size_t s = 0; s < 2; ++s) {
    SampleTokens t;
    for (const SampleImage& im : samples[s].images) t.image_tokens.push_back(im.patch_count());
    t.llm_tokens = sample_llm_tokens(samples[s], 4);
    sizes.push_back(t);
  }
  const std::vector<int64_t> pack{0, 1};
  const PackLayout layout = pack_layout(sizes, pack);
  EXPECT_EQ(layout.cu_t, (std::vector<int32_t>{0, 13, 45}));
  EXPECT_EQ(layout.cu_v, values<int32_t>(rm.vision_cu_seqlens));
  const auto& indices = layout.padded_indices;
  std::vector<int64_t> expected(13);
  std::iota(expected.begin(), expected.end(), 0);
  for (int64_t j = 32; j < 64; ++j) expected.push_back(j);
  EXPECT_EQ(indices, expected);
  // Unpadding the padded layout gives the rmpad layout, tokens, targets and positions alike.
  const auto tokens = values<int64_t>(b.tokens), targets = values<int64_t>(b.targets);
  const auto pos = values<int64_t>(b.positions), rm_pos = values<int64_t>(rm.positions);
  for (size_t k = 0; k < indices.size(); ++k) {
    EXPECT_EQ(tokens[indices[k]], values<int64_t>(rm.tokens)[k]);
    EXPECT_EQ(targets[indices[k]], values<int64_t>(rm.targets)[k]);
    for (int a = 0; a < 3; ++a) EXPECT_EQ(pos[a * 64 + indices[k]], rm_pos[a * 45 + k]);
  }
  // Pads: the pad id, no target, position 1.
  EXPECT_EQ(tokens[13], VlmTokens::endoftext);
  EXPECT_EQ(targets[13], -100);
  EXPECT_EQ(pos[13], 1);
  EXPECT_EQ(b.target_count, rm.target_count);
}

TEST(VlmBatch, BadSamplesAreOneLineErrors) {
  VlmSample odd{{image(12, 16, 0)}, "", "bag"};  // 3×4 patches: not a multiple of the 2×2 merge
  try {
    make_vlm_batch(std::span(&odd, 1), 4, VlmLayout::rmpad, 17);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "image 0 of sample 17: 3×4 patches is not a multiple of merge_size 2");
  }
  VlmSample short_patches{{image(16, 16, 0)}, "", "bag"};
  short_patches.images[0].patches.pop_back();
  EXPECT_THROW(make_vlm_batch(std::span(&short_patches, 1), 4, VlmLayout::rmpad), Error);
  EXPECT_THROW(make_vlm_batch({}, 4, VlmLayout::rmpad), Error);
  EXPECT_THROW(sample_text(odd, 3), Error);
}

}  // namespace
}  // namespace kiln::data
