#pragma once
// Autoregressive sampling with a KV cache: the prompt is encoded once, then
// each new token costs one cached decoding step.
#include <cstdint>
#include <functional>
#include <vector>

#include "kiln/models/gpt/model.hpp"

namespace kiln::models {

struct SamplingOptions {
  double temperature = 1.0;  // 0: greedy
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // nucleus; 1: off
  uint64_t seed = 0;
  int32_t stop_id = -1;      // stop after emitting this id (e.g. end of document)
  bool mla_absorbed = true;  // MLA models: cache the latent and rotated key only (DeepSeek-V2 §2.1.2)
};

struct SpeculativeStats {
  int64_t main_forwards = 0;  // verification passes of the main model after the prompt
  int64_t drafted = 0;        // tokens proposed by the MTP module
  int64_t accepted = 0;       // of those, equal to the main model's choice
  double verify_seconds = 0;  // in the main model's two-token forwards
  double draft_seconds = 0;   // in the MTP module's forwards (the draft)
  double acceptance() const { return drafted > 0 ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0; }
};

// Picks one id from logits [V]; `draw` selects the random number used.
int32_t sample_token(const std::vector<float>& logits, const SamplingOptions& options, uint64_t draw);

// Calls on_token for every new id as soon as it is chosen (streaming).
std::vector<int32_t> generate(const GptModel& model, const std::vector<int32_t>& prompt, int64_t max_new_tokens,
                              const SamplingOptions& options, const std::function<void(int32_t)>& on_token = {});

// Greedy self-speculative decoding with the first MTP module as the draft
// model (DeepSeek-V3, arXiv 2412.19437, §2.2 and §5.4.3): each main forward
// verifies [x_n, draft] and commits one or two tokens. The output equals
// greedy generate() token for token.
std::vector<int32_t> generate_speculative(const GptModel& model, const std::vector<int32_t>& prompt,
                                          int64_t max_new_tokens, const SamplingOptions& options,
                                          SpeculativeStats& stats, const std::function<void(int32_t)>& on_token = {});

}  // namespace kiln::models
