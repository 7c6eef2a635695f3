#pragma once
// NaViT's continuous token dropping (SPEC-VLM §1.4), for training only: image
// i gets a drop rate ρ_i and keeps n_keep = max(1, ⌊n_i(1 − ρ_i)⌋) of its n_i
// tokens (the max(1, …) as in lucidrains' na_vit.py); packing then uses the
// kept counts. Which tokens: the n_keep with the smallest Philox keys of the
// stream (seed, step, image), returned in ascending order, so tokens keep
// their merge order and their (row, col) travel with them.
//
// Schedules (`vision.token_drop`):
//  - none                ρ = 0
//  - const:ρ             ρ for every image
//  - uniform:ρmax        ρ ~ U(0, ρmax) per image
//  - beta:a,b            ρ ~ Beta(a, b) per image. NaViT samples per-image
//                        rates from a beta distribution; the paper scales a
//                        Beta draw by a maximum rate, which beta:a,b leaves
//                        at 1 (choose a, b for the mean a/(a+b) you want).
//  - by_size:ρ0,κ,ρmax   ρ = clip(ρ0 + κ(n/n_ref − 1), 0, ρmax): drops more
//                        from larger images (NaViT's resolution-dependent
//                        dropping); n_ref is the caller's reference token
//                        count, e.g. the mean tokens per training image.
// Every rate lies in [0, 1]; a rate of 1 keeps one token.
#include <cstdint>
#include <string_view>
#include <vector>

namespace kiln::data {

struct TokenDropSchedule {
  enum class Kind { none, constant, uniform, beta, by_size };
  Kind kind = Kind::none;
  double rate = 0;        // const: ρ; by_size: ρ0
  double max_rate = 0;    // uniform, by_size: ρmax
  double alpha = 0, beta = 0;  // beta: a, b
  double slope = 0;       // by_size: κ
  int64_t reference_tokens = 0;  // by_size: n_ref
};

// Parses `vision.token_drop`. `reference_tokens` is by_size's n_ref (≥ 1;
// ignored by the other schedules).
TokenDropSchedule parse_token_drop(std::string_view text, int64_t reference_tokens = 0);

// Names the draws of one image: the optimizer step and the image's index in it.
struct DropSite {
  uint64_t seed = 0;
  int64_t step = 0;
  int64_t image = 0;
};

// ρ for an image of `tokens` tokens (random for uniform and beta, from the
// site's own stream).
double drop_rate(const TokenDropSchedule& schedule, int64_t tokens, const DropSite& site);

// max(1, ⌊tokens·(1 − rate)⌋).
int64_t kept_token_count(int64_t tokens, double rate);

// The indices (0 … tokens − 1, ascending) of the tokens an image keeps at
// `rate`: all of them at rate 0.
std::vector<int32_t> kept_tokens(int64_t tokens, double rate, const DropSite& site);

}  // namespace kiln::data
