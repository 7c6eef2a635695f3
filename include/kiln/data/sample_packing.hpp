#pragma once
// Packing vision-language samples under two budgets (SPEC-VLM §6.1–§6.3).
// A sample has V_s = Σ n_i ViT tokens (its images, after token dropping) and
// L_s LLM tokens (placeholders included). It joins a pack only if the pack
// then still holds at most `data.packing_length` LLM tokens AND at most
// `vision.max_tokens` ViT tokens:
//  - next_fit: one open pack; a sample that does not fit closes it;
//  - ffd:K: each window of K consecutive samples, sorted by L_s (descending,
//    stable: the LLM budget is the one a pack fills first), goes first-fit
//    into the packs opened for that window.
// A sample over either budget on its own is an error, or is skipped and
// counted when `data.overlong = "skip"`.
//
// pack_layout gives a pack's bookkeeping for both layouts of §6.3: cu_t (one
// causal segment per sample), cu_v (one segment per image), and the padded
// layout's row length and row-major indices of the real tokens
// (unpad = gather at those indices; pad = scatter back, zeros elsewhere).
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "kiln/data/vision_tokens.hpp"

namespace kiln::data {

struct SampleTokens {
  std::vector<int64_t> image_tokens;  // n_i of each image, in placeholder order
  int64_t llm_tokens = 0;             // L_s

  int64_t vision_tokens() const;      // V_s = Σ n_i
};

struct PackBudgets {
  int64_t llm_tokens = 1024;     // data.packing_length
  int64_t vision_tokens = 4096;  // vision.max_tokens
};

enum class Overlong { error, skip };

// `data.overlong`: "error" or "skip".
Overlong parse_overlong(std::string_view text);

struct SamplePacks {
  std::vector<std::vector<int64_t>> packs;  // sample indices, in sequence order
  std::vector<int64_t> skipped;             // samples over a budget (overlong = skip), ascending
};

// Every sample lands in exactly one pack or in `skipped`. Errors name
// samples as "sample <first_sample + index>". A sample needs L_s ≥ 1 and
// every image at least one token; a sample may have no image.
SamplePacks pack_samples(std::span<const SampleTokens> samples, const PackBudgets& budgets,
                         const PackingPolicy& policy, Overlong overlong, int64_t first_sample = 0);

struct PackLayout {
  std::vector<int32_t> cu_t;  // [0, L_a, L_a + L_b, …]
  std::vector<int32_t> cu_v;  // [0, n_0, n_0 + n_1, …]: images in sample order, then placeholder order
  int64_t max_seqlen = 0;     // longest sample: the padded layout's row length
  // Padded layout [samples, max_seqlen]: the row-major index s·max_seqlen + j
  // of every real token (j < L_s), in packed order.
  std::vector<int64_t> padded_indices;

  int64_t tokens() const { return cu_t.back(); }
  int64_t padded_slots() const { return (static_cast<int64_t>(cu_t.size()) - 1) * max_seqlen; }
  // Share of the padded layout's slots that are padding.
  double padding_share() const;
};

// The pack a training step takes from its packed candidates: next_fit's
// first (it holds the candidates in draw order), ffd's pack number
// `draw mod packs`. ffd sorts its window by L_s, so its first pack holds the
// window's largest samples; a uniformly chosen pack trains every candidate
// with the same probability, 1/packs.
const std::vector<int64_t>& step_pack(const SamplePacks& packs, const PackingPolicy& policy, uint64_t draw);

// The layout of `pack` (indices into `samples`, in sequence order).
PackLayout pack_layout(std::span<const SampleTokens> samples, std::span<const int64_t> pack);

}  // namespace kiln::data
