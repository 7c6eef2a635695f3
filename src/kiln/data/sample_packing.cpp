#include "kiln/data/sample_packing.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <string>

#include "kiln/base/error.hpp"

namespace kiln::data {

namespace {

// 1210 → "1,210", as §11's messages print token counts.
std::string grouped(int64_t value) {
  const std::string digits = std::to_string(value);
  const size_t sign = value < 0 ? 1 : 0;
  std::string out = digits.substr(0, sign);
  for (size_t i = sign; i < digits.size(); ++i) {
    if (i > sign && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

void check_budgets(const PackBudgets& budgets) {
  constexpr int64_t kInt32 = std::numeric_limits<int32_t>::max();
  KILN_CHECK(budgets.llm_tokens >= 1 && budgets.llm_tokens <= kInt32,
             "data.packing_length = {}: expected 1 to {} (cu_seqlens are int32)", budgets.llm_tokens, kInt32);
  KILN_CHECK(budgets.vision_tokens >= 1 && budgets.vision_tokens <= kInt32,
             "vision.max_tokens = {}: expected 1 to {} (cu_seqlens are int32)", budgets.vision_tokens, kInt32);
}

void check_sample(const SampleTokens& sample, int64_t name) {
  KILN_CHECK(sample.llm_tokens >= 1, "sample {} has {} LLM tokens (at least one expected)", name, sample.llm_tokens);
  for (size_t i = 0; i < sample.image_tokens.size(); ++i)
    KILN_CHECK(sample.image_tokens[i] >= 1, "image {} of sample {} has {} tokens (every image keeps at least one)", i,
               name, sample.image_tokens[i]);
}

// Whether the sample fits the budgets on its own; with overlong = error, the
// §11 message for the first budget it exceeds.
bool fits_alone(const SampleTokens& sample, int64_t name, const PackBudgets& budgets, Overlong overlong) {
  constexpr std::string_view kHint = "(data.overlong = \"skip\" drops it)";
  const bool llm_ok = sample.llm_tokens <= budgets.llm_tokens;
  const bool vision_ok = sample.vision_tokens() <= budgets.vision_tokens;
  if (overlong == Overlong::error) {
    KILN_CHECK(llm_ok, "sample {} needs {} LLM tokens > data.packing_length {} {}", name, grouped(sample.llm_tokens),
               budgets.llm_tokens, kHint);
    KILN_CHECK(vision_ok, "sample {} needs {} vision tokens > vision.max_tokens {} {}", name,
               grouped(sample.vision_tokens()), budgets.vision_tokens, kHint);
  }
  return llm_ok && vision_ok;
}

struct OpenPack {
  std::vector<int64_t> samples;
  int64_t llm = 0, vision = 0;

  bool has_room(const SampleTokens& s, const PackBudgets& b) const {
    return llm + s.llm_tokens <= b.llm_tokens && vision + s.vision_tokens() <= b.vision_tokens;
  }
  void add(int64_t index, const SampleTokens& s) {
    samples.push_back(index);
    llm += s.llm_tokens;
    vision += s.vision_tokens();
  }
};

std::vector<std::vector<int64_t>> next_fit(std::span<const SampleTokens> samples, std::span<const int64_t> order,
                                           const PackBudgets& budgets) {
  std::vector<std::vector<int64_t>> packs;
  OpenPack open;
  for (int64_t i : order) {
    if (!open.samples.empty() && !open.has_room(samples[i], budgets)) {
      packs.push_back(std::move(open.samples));
      open = {};
    }
    open.add(i, samples[i]);
  }
  if (!open.samples.empty()) packs.push_back(std::move(open.samples));
  return packs;
}

// First-fit decreasing inside each window of `window` consecutive samples;
// a window's packs close when the next window starts.
std::vector<std::vector<int64_t>> first_fit_decreasing(std::span<const SampleTokens> samples,
                                                       std::span<const int64_t> order, const PackBudgets& budgets,
                                                       int64_t window) {
  std::vector<std::vector<int64_t>> packs;
  const auto n = static_cast<int64_t>(order.size());
  for (int64_t start = 0; start < n; start += window) {
    std::vector<int64_t> chunk(order.begin() + start, order.begin() + std::min(n, start + window));
    std::stable_sort(chunk.begin(), chunk.end(),
                     [&](int64_t a, int64_t b) { return samples[a].llm_tokens > samples[b].llm_tokens; });
    std::vector<OpenPack> open;
    for (int64_t i : chunk) {
      const auto fits = [&](const OpenPack& p) { return p.has_room(samples[i], budgets); };
      auto pack = std::find_if(open.begin(), open.end(), fits);
      if (pack == open.end()) pack = open.insert(open.end(), OpenPack{});
      pack->add(i, samples[i]);
    }
    for (OpenPack& p : open) packs.push_back(std::move(p.samples));
  }
  return packs;
}

}  // namespace

int64_t SampleTokens::vision_tokens() const {
  return std::accumulate(image_tokens.begin(), image_tokens.end(), int64_t{0});
}

Overlong parse_overlong(std::string_view text) {
  if (text == "error") return Overlong::error;
  if (text == "skip") return Overlong::skip;
  fail("data.overlong = \"{}\": expected \"error\" or \"skip\"", text);
}

SamplePacks pack_samples(std::span<const SampleTokens> samples, const PackBudgets& budgets,
                         const PackingPolicy& policy, Overlong overlong, int64_t first_sample) {
  check_budgets(budgets);
  SamplePacks out;
  std::vector<int64_t> order;
  for (size_t i = 0; i < samples.size(); ++i) {
    const int64_t name = first_sample + static_cast<int64_t>(i);
    check_sample(samples[i], name);
    if (fits_alone(samples[i], name, budgets, overlong))
      order.push_back(static_cast<int64_t>(i));
    else
      out.skipped.push_back(static_cast<int64_t>(i));
  }
  if (policy.kind == PackingPolicy::Kind::next_fit) {
    out.packs = next_fit(samples, order, budgets);
  } else {
    KILN_CHECK(policy.window >= 1, "data.pack: ffd window {} must be at least 1", policy.window);
    out.packs = first_fit_decreasing(samples, order, budgets, policy.window);
  }
  return out;
}

double PackLayout::padding_share() const {
  const int64_t slots = padded_slots();
  return slots == 0 ? 0.0 : static_cast<double>(slots - tokens()) / static_cast<double>(slots);
}

PackLayout pack_layout(std::span<const SampleTokens> samples, std::span<const int64_t> pack) {
  constexpr int64_t kInt32 = std::numeric_limits<int32_t>::max();
  PackLayout out{{0}, {0}, 0, {}};
  int64_t llm = 0, vision = 0;
  for (int64_t s : pack) {
    KILN_CHECK(s >= 0 && s < static_cast<int64_t>(samples.size()), "pack_layout: sample {} outside 0..{}", s,
               static_cast<int64_t>(samples.size()) - 1);
    llm += samples[s].llm_tokens;
    vision += samples[s].vision_tokens();
    KILN_CHECK(llm <= kInt32 && vision <= kInt32, "pack_layout: {} LLM and {} vision tokens overflow int32 cu_seqlens",
               llm, vision);
    out.cu_t.push_back(static_cast<int32_t>(llm));
    for (int64_t n : samples[s].image_tokens) out.cu_v.push_back(out.cu_v.back() + static_cast<int32_t>(n));
    out.max_seqlen = std::max(out.max_seqlen, samples[s].llm_tokens);
  }
  out.padded_indices.reserve(static_cast<size_t>(out.tokens()));
  for (size_t row = 0; row < pack.size(); ++row)
    for (int64_t j = 0; j < samples[pack[row]].llm_tokens; ++j)
      out.padded_indices.push_back(static_cast<int64_t>(row) * out.max_seqlen + j);
  return out;
}

const std::vector<int64_t>& step_pack(const SamplePacks& packs, const PackingPolicy& policy, uint64_t draw) {
  KILN_CHECK(!packs.packs.empty(), "no pack to train on: every candidate sample was over a budget");
  if (policy.kind == PackingPolicy::Kind::next_fit) return packs.packs.front();
  return packs.packs[draw % packs.packs.size()];
}

}  // namespace kiln::data
