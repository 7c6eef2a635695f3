#include "kiln/models/gpt/generate.hpp"

#include <algorithm>
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
  KvCache cache = model.new_cache(total);
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

}  // namespace kiln::models
