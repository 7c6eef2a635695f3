// Two-budget sample packing (SPEC-VLM §6.1–§6.3): the §6.3 worked example
// (cu_t, cu_v, padded indices, 29.7% padding), the next-fit example of §1.3,
// invariants on random samples for next_fit and ffd:K (every sample once, no
// pack over either budget), overlong samples and the §11 error.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/data/sample_packing.hpp"
#include "support/error_text.hpp"

namespace kiln::data {
namespace {

using kiln::testing::error_of;

using Ints = std::vector<int64_t>;
using Int32s = std::vector<int32_t>;

constexpr int64_t kPatch = 4, kMerge = 2;

// A sample of §6.3's table from its images (height, width in px) and answer:
// each image is <vs> + n/m² placeholders + <ve>, then the answer and <eos>.
SampleTokens worked_sample(const std::vector<ImageSize>& images, const std::string& answer) {
  SampleTokens s;
  for (const ImageSize& image : images) {
    const int64_t patches = (image.height / kPatch) * (image.width / kPatch);
    s.image_tokens.push_back(patches);
    s.llm_tokens += 1 + patches / (kMerge * kMerge) + 1;
  }
  s.llm_tokens += static_cast<int64_t>(answer.size()) + 1;
  return s;
}

TEST(SamplePacking, WorkedExampleOfTheSpec) {
  const std::vector<SampleTokens> samples = {
      worked_sample({{16, 24}}, "coat"),
      worked_sample({{16, 16}, {24, 32}}, "bag, sandal"),
      worked_sample({{32, 32}}, "trouser"),
  };
  EXPECT_EQ(samples[0].llm_tokens, 13);
  EXPECT_EQ(samples[1].llm_tokens, 32);
  EXPECT_EQ(samples[2].llm_tokens, 26);
  EXPECT_EQ(samples[1].image_tokens, (Ints{16, 48}));

  const SamplePacks packing = pack_samples(samples, {.llm_tokens = 64, .vision_tokens = 256},
                                           parse_packing_policy("next_fit", "data.pack"), Overlong::error);
  ASSERT_EQ(packing.packs, (std::vector<Ints>{{0, 1}, {2}}));  // 45 + 26 = 71 > 64
  EXPECT_TRUE(packing.skipped.empty());

  const PackLayout first = pack_layout(samples, packing.packs[0]);
  EXPECT_EQ(first.cu_t, (Int32s{0, 13, 45}));
  EXPECT_EQ(first.cu_v, (Int32s{0, 24, 40, 88}));
  EXPECT_EQ(first.max_seqlen, 32);
  Ints indices(13);
  std::iota(indices.begin(), indices.end(), 0);
  for (int64_t j = 32; j < 64; ++j) indices.push_back(j);
  EXPECT_EQ(first.padded_indices, indices);
  EXPECT_EQ(first.padded_slots(), 64);
  EXPECT_DOUBLE_EQ(first.padding_share(), 19.0 / 64.0);  // 29.7%
  EXPECT_NEAR(100 * first.padding_share(), 29.7, 0.05);

  const PackLayout second = pack_layout(samples, packing.packs[1]);
  EXPECT_EQ(second.cu_t, (Int32s{0, 26}));
  EXPECT_EQ(second.cu_v, (Int32s{0, 64}));
  EXPECT_EQ(second.padding_share(), 0.0);
}

TEST(SamplePacking, NextFitExampleWithTheVisionBudgetLoose) {
  // §1.3: lengths [5, 4, 3, 2, 6] with limit 8 → [[0], [1, 2], [3, 4]].
  std::vector<SampleTokens> samples;
  for (int64_t l : {5, 4, 3, 2, 6}) samples.push_back({{1}, l});
  const SamplePacks p = pack_samples(samples, {8, 1000}, {}, Overlong::error);
  EXPECT_EQ(p.packs, (std::vector<Ints>{{0}, {1, 2}, {3, 4}}));
}

TEST(SamplePacking, TheVisionBudgetAloneCanClosePacks) {
  // Same LLM lengths; every sample has 40 vision tokens and the budget is 100,
  // so at most two samples share a pack although 5 + 4 + 3 ≤ 16.
  std::vector<SampleTokens> samples;
  for (int64_t l : {5, 4, 3, 2, 6}) samples.push_back({{30, 10}, l});
  const SamplePacks p = pack_samples(samples, {16, 100}, {}, Overlong::error);
  EXPECT_EQ(p.packs, (std::vector<Ints>{{0, 1}, {2, 3}, {4}}));
}

TEST(SamplePacking, FirstFitDecreasingWorkedByHand) {
  // ffd:5 on LLM lengths [5, 4, 3, 2, 6], limit 8: sorted 6, 5, 4, 3, 2 →
  // 6 → A; 5 → B; 4 → C; 3 → B (5 + 3); 2 → A (6 + 2).
  std::vector<SampleTokens> samples;
  for (int64_t l : {5, 4, 3, 2, 6}) samples.push_back({{1}, l});
  EXPECT_EQ(pack_samples(samples, {8, 1000}, parse_packing_policy("ffd:5"), Overlong::error).packs,
            (std::vector<Ints>{{4, 3}, {0, 2}, {1}}));
  // ffd:2: windows {0, 1}, {2, 3}, {4} are packed separately.
  EXPECT_EQ(pack_samples(samples, {8, 1000}, parse_packing_policy("ffd:2"), Overlong::error).packs,
            (std::vector<Ints>{{0}, {1}, {2, 3}, {4}}));
  // A pack the LLM budget allows but the vision budget does not: 6 + 2 fit
  // in 8 LLM tokens, but 60 + 50 vision tokens exceed 100, so the 2 goes on
  // to the third pack (4 + 2 tokens, 1 + 50 vision tokens).
  samples[3].image_tokens = {50};
  samples[4].image_tokens = {60};
  EXPECT_EQ(pack_samples(samples, {8, 100}, parse_packing_policy("ffd:5"), Overlong::error).packs,
            (std::vector<Ints>{{4}, {0, 2}, {1, 3}}));
}

TEST(SamplePacking, InvariantsOnRandomSamples) {
  const PackBudgets budgets{.llm_tokens = 200, .vision_tokens = 500};
  const PhiloxKey key{7, 1};
  for (const std::string policy : {"next_fit", "ffd:1", "ffd:8", "ffd:64"})
    for (const Overlong overlong : {Overlong::skip}) {
      std::vector<SampleTokens> samples;
      for (uint64_t i = 0; i < 300; ++i) {
        const auto bits = philox_block(key, i);
        SampleTokens s;
        for (uint32_t k = 0; k < bits[0] % 4; ++k) s.image_tokens.push_back(1 + (bits[1 + k % 3] >> k) % 260);
        s.llm_tokens = 1 + bits[3] % 230;  // some over the LLM budget
        samples.push_back(s);
      }
      const SamplePacks p = pack_samples(samples, budgets, parse_packing_policy(policy), overlong);
      std::vector<int> seen(samples.size(), 0);
      for (const Ints& pack : p.packs) {
        EXPECT_FALSE(pack.empty());
        int64_t llm = 0, vision = 0;
        for (int64_t s : pack) {
          ++seen[static_cast<size_t>(s)];
          llm += samples[s].llm_tokens;
          vision += samples[s].vision_tokens();
        }
        EXPECT_LE(llm, budgets.llm_tokens) << policy;
        EXPECT_LE(vision, budgets.vision_tokens) << policy;
        const PackLayout layout = pack_layout(samples, pack);
        EXPECT_EQ(layout.cu_t.back(), llm);
        EXPECT_EQ(layout.cu_v.back(), vision);
      }
      for (int64_t s : p.skipped) {
        ++seen[static_cast<size_t>(s)];
        EXPECT_TRUE(samples[s].llm_tokens > budgets.llm_tokens || samples[s].vision_tokens() > budgets.vision_tokens);
      }
      EXPECT_FALSE(p.skipped.empty());
      EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; })) << policy;
      if (policy == "next_fit") {  // next_fit keeps the data order
        Ints order;
        for (const Ints& pack : p.packs) order.insert(order.end(), pack.begin(), pack.end());
        EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
      }
    }
}

// ffd sorts each window by L_s, so its first pack holds the window's largest
// samples; the pack a step trains on must not be that one, or training would
// see mostly long samples. Over many windows, the chosen packs' samples have
// the window's mean L_s; next_fit's step takes its first pack.
TEST(SamplePacking, AStepsPackIsNotBiasedTowardsLongSamples) {
  const PackBudgets budgets{.llm_tokens = 256, .vision_tokens = 4096};
  const PackingPolicy ffd = parse_packing_policy("ffd:64");
  double all_llm = 0, all_count = 0, chosen_llm = 0, chosen_count = 0, first_llm = 0, first_count = 0;
  for (uint64_t w = 0; w < 400; ++w) {
    std::vector<SampleTokens> window;
    for (uint64_t i = 0; i < 64; ++i) {
      const auto bits = philox_block({11, w}, i);
      window.push_back({{static_cast<int64_t>(1 + bits[0] % 64)}, static_cast<int64_t>(1 + bits[1] % 100)});
      all_llm += static_cast<double>(window.back().llm_tokens);
      all_count += 1;
    }
    const SamplePacks packs = pack_samples(window, budgets, ffd, Overlong::error);
    for (int64_t s : step_pack(packs, ffd, philox_block({12, w}, 0)[0])) {
      chosen_llm += static_cast<double>(window[static_cast<size_t>(s)].llm_tokens);
      chosen_count += 1;
    }
    for (int64_t s : packs.packs.front()) {
      first_llm += static_cast<double>(window[static_cast<size_t>(s)].llm_tokens);
      first_count += 1;
    }
    const SamplePacks in_order = pack_samples(window, budgets, {}, Overlong::error);
    EXPECT_EQ(step_pack(in_order, {}, w), in_order.packs.front());
  }
  const double mean = all_llm / all_count;
  EXPECT_NEAR(chosen_llm / chosen_count / mean, 1.0, 0.1);
  EXPECT_GT(first_llm / first_count / mean, 1.3);  // what taking ffd's first pack would train on
}

TEST(SamplePacking, UnpadThenPadIsTheIdentity) {
  const std::vector<SampleTokens> samples = {{{4}, 5}, {{}, 9}, {{8, 8}, 2}};
  const Ints pack = {2, 0, 1};
  const PackLayout layout = pack_layout(samples, pack);
  ASSERT_EQ(layout.max_seqlen, 9);
  // Pad the packed tokens 0 … 15 into rows of 9, then gather them back.
  std::vector<int64_t> padded(static_cast<size_t>(layout.padded_slots()), -1);
  for (size_t t = 0; t < layout.padded_indices.size(); ++t)
    padded[static_cast<size_t>(layout.padded_indices[t])] = static_cast<int64_t>(t);
  for (size_t row = 0; row < pack.size(); ++row)
    for (int64_t j = 0; j < layout.max_seqlen; ++j) {
      const int64_t v = padded[row * 9 + static_cast<size_t>(j)];
      if (j < samples[pack[row]].llm_tokens)
        EXPECT_EQ(v, layout.cu_t[row] + j);
      else
        EXPECT_EQ(v, -1) << "pad slot " << row << "," << j;
    }
  EXPECT_EQ(layout.cu_v, (Int32s{0, 8, 16, 20}));
}

TEST(SamplePacking, OverlongSamples) {
  std::vector<SampleTokens> samples = {{{10}, 20}, {{10}, 1210}, {{5000}, 20}, {{10}, 30}};
  const PackBudgets budgets{1024, 4096};
  EXPECT_EQ(error_of([&] { pack_samples(samples, budgets, {}, Overlong::error, 811); }),
            "sample 812 needs 1,210 LLM tokens > data.packing_length 1024 (data.overlong = \"skip\" drops it)");
  samples[1].llm_tokens = 12;
  EXPECT_EQ(error_of([&] { pack_samples(samples, budgets, {}, Overlong::error); }),
            "sample 2 needs 5,000 vision tokens > vision.max_tokens 4096 (data.overlong = \"skip\" drops it)");
  samples[1].llm_tokens = 1210;
  const SamplePacks p = pack_samples(samples, budgets, {}, Overlong::skip);
  EXPECT_EQ(p.skipped, (Ints{1, 2}));
  EXPECT_EQ(p.packs, (std::vector<Ints>{{0, 3}}));
}

TEST(SamplePacking, Errors) {
  EXPECT_EQ(parse_overlong("skip"), Overlong::skip);
  EXPECT_EQ(error_of([] { parse_overlong("drop"); }), "data.overlong = \"drop\": expected \"error\" or \"skip\"");
  EXPECT_EQ(error_of([] { parse_packing_policy("ffd", "data.pack"); }),
            "data.pack = \"ffd\": expected \"next_fit\" or \"ffd:K\" with a window K ≥ 1");
  const std::vector<SampleTokens> zero_image = {{{0}, 5}};
  EXPECT_EQ(error_of([&] { pack_samples(zero_image, {}, {}, Overlong::error); }),
            "image 0 of sample 0 has 0 tokens (every image keeps at least one)");
  const std::vector<SampleTokens> empty = {{{}, 0}};
  EXPECT_EQ(error_of([&] { pack_samples(empty, {}, {}, Overlong::skip); }),
            "sample 0 has 0 LLM tokens (at least one expected)");
  EXPECT_EQ(error_of([] { pack_samples({}, {.llm_tokens = 0}, {}, Overlong::error); }),
            "data.packing_length = 0: expected 1 to 2147483647 (cu_seqlens are int32)");
}

}  // namespace
}  // namespace kiln::data
