#pragma once
// `kiln eval --tokens FILE --logprobs OUT.json`: the log-probabilities a
// decoder LM gives every vocabulary entry at every position of a given token
// sequence, so that another engine (llama.cpp, transformers) can be compared
// with kiln on the same ids, with no tokenizer in between.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "kiln/models/gpt/model.hpp"

namespace kiln::train {

// Token ids from a file: whitespace-separated decimal integers, or a JSON
// array of integers (when the first non-blank character is '['). An empty
// file, a field that is not an integer, or an id outside [0, vocab_size) is
// one error naming the file and the position.
std::vector<int32_t> read_token_ids(const std::filesystem::path& path, int64_t vocab_size);

struct TokenLogprobs {
  std::vector<int32_t> tokens;  // T
  int64_t vocab_size = 0;
  // Row t (V values): log p(next token = v | tokens[0..t]), natural log.
  std::vector<float> logprobs;  // T·V, row-major
  // Over the T − 1 positions whose next token is given (none when T = 1).
  double mean_nll = 0;
  double perplexity = 1;
  const float* row(int64_t t) const { return logprobs.data() + t * vocab_size; }
};

// One forward pass over `tokens` as a single sequence at positions 0..T−1.
// A GPT-2 model (learned positions) takes at most max_seq_len tokens.
TokenLogprobs score_token_ids(const models::GptModel& model, const std::vector<int32_t>& tokens);

// {"tokens": [...], "logprobs": [[V floats] × T], "ppl": ..., "mean_nll": ...,
// "vocab_size": V}, floats in their shortest round-trip form; written atomically.
void write_logprobs_json(const std::filesystem::path& path, const TokenLogprobs& scored);

}  // namespace kiln::train
