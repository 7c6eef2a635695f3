#include "kiln/models/gpt/generate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"

namespace kiln::models {

int32_t sample_token(const std::vector<float>& logits, const SamplingOptions& o, uint64_t draw) {
  const auto n = static_cast<int64_t>(logits.size());
  if (o.temperature <= 0) return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  const int64_t keep_k = o.top_k > 0 ? std::min(o.top_k, n) : n;
  std::vector<double> probs(static_cast<size_t>(keep_k));
  const double top = logits[order[0]];
  double total = 0;
  for (int64_t i = 0; i < keep_k; ++i) total += probs[i] = std::exp((logits[order[i]] - top) / o.temperature);
  int64_t keep = keep_k;
  if (o.top_p < 1.0) {
    double mass = 0;
    for (int64_t i = 0; i < keep_k; ++i) {
      mass += probs[i] / total;
      if (mass >= o.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept = 0;
  for (int64_t i = 0; i < keep; ++i) kept += probs[i];
  const double u = philox_uniform({o.seed, 0x5a11}, draw) * kept;
  double running = 0;
  for (int64_t i = 0; i < keep; ++i) {
    running += probs[i];
    if (u < running) return order[i];
  }
  return order[keep - 1];
}

std::vector<int32_t> generate(const GptModel& model, const std::vector<int32_t>& prompt, int64_t max_new_tokens,
                              const SamplingOptions& options, const std::function<void(int32_t)>& on_token) {
  KILN_CHECK(!prompt.empty(), "generate: the prompt is empty");
  const int64_t total = static_cast<int64_t>(prompt.size()) + max_new_tokens;
  const bool learned_positions = model.config().arch == DecoderArch::gpt2;
  KILN_CHECK(!learned_positions || total <= model.config().max_seq_len,
             "generate: prompt ({}) plus {} new tokens exceed the model's context of {}", prompt.size(),
             max_new_tokens, model.config().max_seq_len);
  KvCache cache = model.new_cache(total, options.mla_absorbed);
  std::vector<int64_t> ids(prompt.begin(), prompt.end());
  Tensor logits = model.decode(Tensor::from<int64_t>(ids, {static_cast<int64_t>(ids.size())}), cache);
  std::vector<int32_t> produced;
  for (int64_t step = 0; step < max_new_tokens; ++step) {
    const Tensor last = logits.select(0, logits.size(0) - 1);
    const std::vector<float> row = last.to_vector<float>();
    const int32_t next = sample_token(row, options, static_cast<uint64_t>(step));
    produced.push_back(next);
    if (on_token) on_token(next);
    if (next == options.stop_id || step + 1 == max_new_tokens) break;
    logits = model.decode(Tensor::from<int64_t>({next}, {1}), cache);
  }
  return produced;
}

namespace {

int32_t greedy_at(const Tensor& logits, int64_t row) {
  const std::vector<float> values = logits.select(0, row).to_vector<float>();
  return static_cast<int32_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

Tensor ids_tensor(const std::vector<int32_t>& ids) {
  const std::vector<int64_t> wide(ids.begin(), ids.end());
  return Tensor::from<int64_t>(wide, {static_cast<int64_t>(wide.size())});
}

}  // namespace

std::vector<int32_t> generate_speculative(const GptModel& model, const std::vector<int32_t>& prompt,
                                          int64_t max_new_tokens, const SamplingOptions& options,
                                          SpeculativeStats& stats, const std::function<void(int32_t)>& on_token) {
  KILN_CHECK(!prompt.empty(), "generate: the prompt is empty");
  KILN_CHECK(model.config().mtp_depth >= 1, "--speculative needs a model trained with model.mtp_depth ≥ 1");
  KILN_CHECK(options.temperature <= 0, "--speculative decodes greedily: use --temperature 0");
  KILN_CHECK(model.config().arch == DecoderArch::llama, "--speculative needs a llama-arch model");
  const int64_t capacity = static_cast<int64_t>(prompt.size()) + max_new_tokens + 2;
  KvCache cache = model.new_cache(capacity, options.mla_absorbed);
  KvCache draft_cache = model.new_mtp_cache(capacity, options.mla_absorbed);
  stats = {};
  std::vector<int32_t> produced;
  const auto emit = [&](int32_t id) {
    produced.push_back(id);
    if (on_token) on_token(id);
    return id == options.stop_id || static_cast<int64_t>(produced.size()) == max_new_tokens;
  };
  Tensor hidden;
  const Tensor prompt_logits = model.decode(ids_tensor(prompt), cache, &hidden);
  int32_t next = greedy_at(prompt_logits, prompt_logits.size(0) - 1);
  if (emit(next)) return produced;
  // The MTP module pairs h_{p−1} with x_p: the prompt shifted by one, then the first new token.
  std::vector<int32_t> shifted(prompt.begin() + 1, prompt.end());
  shifted.push_back(next);
  Tensor draft_logits = model.mtp_decode(hidden, ids_tensor(shifted), draft_cache);
  using Clock = std::chrono::steady_clock;
  const auto seconds_since = [](Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  while (true) {
    const int32_t draft = greedy_at(draft_logits, draft_logits.size(0) - 1);
    const auto verify_start = Clock::now();
    const Tensor logits = model.decode(ids_tensor({next, draft}), cache, &hidden);
    stats.verify_seconds += seconds_since(verify_start);
    ++stats.main_forwards;
    ++stats.drafted;
    const int32_t verified = greedy_at(logits, 0);
    if (verified == draft) {
      ++stats.accepted;
      if (emit(draft)) break;
      const int32_t after = greedy_at(logits, 1);
      if (emit(after)) break;
      const auto draft_start = Clock::now();
      draft_logits = model.mtp_decode(hidden, ids_tensor({draft, after}), draft_cache);
      stats.draft_seconds += seconds_since(draft_start);
      next = after;
    } else {
      cache.length -= 1;  // forget the rejected draft's keys and values
      if (emit(verified)) break;
      const auto draft_start = Clock::now();
      draft_logits = model.mtp_decode(hidden.narrow(0, 0, 1).contiguous(), ids_tensor({verified}), draft_cache);
      stats.draft_seconds += seconds_since(draft_start);
      next = verified;
    }
  }
  return produced;
}

}  // namespace kiln::models
