#include "kiln/train/token_logprobs.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/printable.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/io/input_file.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

void check_id(int64_t id, int64_t vocab_size, const fs::path& path, size_t position) {
  KILN_CHECK(id >= 0 && id < vocab_size, "{}: token {} is id {}, outside the model's vocabulary [0, {})",
             path.string(), position, id, vocab_size);
}

std::vector<int32_t> ids_from_json(const std::string& text, int64_t vocab_size, const fs::path& path) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  KILN_CHECK(!json.is_discarded() && json.is_array(), "{}: starts with '[' but is not a JSON array", path.string());
  std::vector<int32_t> ids;
  for (size_t i = 0; i < json.size(); ++i) {
    KILN_CHECK(json[i].is_number_integer(), "{}: token {} is {}, not an integer id", path.string(), i,
               printable(json[i].dump(), 40));
    const int64_t id = json[i].get<int64_t>();
    check_id(id, vocab_size, path, i);
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

std::vector<int32_t> ids_from_words(const std::string& text, int64_t vocab_size, const fs::path& path) {
  std::istringstream words(text);
  std::vector<int32_t> ids;
  std::string word;
  while (words >> word) {
    int64_t id = 0;
    const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), id);
    KILN_CHECK(error == std::errc() && end == word.data() + word.size(),
               "{}: token {} is '{}', not a decimal id (the file holds whitespace-separated ids or a JSON array)",
               path.string(), ids.size(), printable(word, 40));
    check_id(id, vocab_size, path, ids.size());
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

}  // namespace

std::vector<int32_t> read_token_ids(const fs::path& path, int64_t vocab_size) {
  io::check_input_file(path, "--tokens");
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "{}: cannot open", path.string());
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const size_t first = text.find_first_not_of(" \t\r\n");
  const std::vector<int32_t> ids = first != std::string::npos && text[first] == '['
                                       ? ids_from_json(text, vocab_size, path)
                                       : ids_from_words(text, vocab_size, path);
  KILN_CHECK(!ids.empty(), "{}: no token ids", path.string());
  return ids;
}

TokenLogprobs score_token_ids(const models::GptModel& model, const std::vector<int32_t>& tokens) {
  const models::GptConfig& config = model.config();
  const auto length = static_cast<int64_t>(tokens.size());
  KILN_CHECK(length >= 1, "score: no tokens");
  KILN_CHECK(config.arch == models::DecoderArch::llama || length <= config.max_seq_len,
             "{} tokens are more than the model's {} learned positions", length, config.max_seq_len);
  NoGradGuard no_grad;
  models::DecoderBatch batch;
  batch.tokens = Tensor::from<int64_t>(std::vector<int64_t>(tokens.begin(), tokens.end()), {1, length});
  const Tensor logits = model.logits(batch).to(DType::f32).contiguous();
  const float* values = logits.data<float>();
  for (int64_t i = 0; i < logits.numel(); ++i)
    KILN_CHECK(std::isfinite(values[i]), "score: the model's logit {} at position {} is not finite",
               i % config.vocab_size, i / config.vocab_size);

  TokenLogprobs scored;
  scored.tokens = tokens;
  scored.vocab_size = config.vocab_size;
  scored.logprobs.resize(static_cast<size_t>(length * config.vocab_size));
  double nll = 0;
  for (int64_t t = 0; t < length; ++t) {
    const float* row = values + t * config.vocab_size;
    double top = row[0];
    for (int64_t v = 1; v < config.vocab_size; ++v) top = std::max(top, static_cast<double>(row[v]));
    double total = 0;
    for (int64_t v = 0; v < config.vocab_size; ++v) total += std::exp(static_cast<double>(row[v]) - top);
    const double log_total = top + std::log(total);
    float* out = scored.logprobs.data() + t * config.vocab_size;
    for (int64_t v = 0; v < config.vocab_size; ++v) out[v] = static_cast<float>(row[v] - log_total);
    if (t + 1 < length) nll -= static_cast<double>(row[tokens[t + 1]]) - log_total;
  }
  if (length > 1) {
    scored.mean_nll = nll / static_cast<double>(length - 1);
    scored.perplexity = std::exp(scored.mean_nll);
  }
  return scored;
}

void write_logprobs_json(const fs::path& path, const TokenLogprobs& scored) {
  const auto length = static_cast<int64_t>(scored.tokens.size());
  io::AtomicFile file(path);
  auto put = [&](const std::string& s) { file.write(s.data(), s.size()); };
  put(fmt::format("{{\"vocab_size\": {}, \"ppl\": {}, \"mean_nll\": {},\n\"tokens\": [{}],\n\"logprobs\": [\n",
                  scored.vocab_size, scored.perplexity, scored.mean_nll, fmt::join(scored.tokens, ", ")));
  for (int64_t t = 0; t < length; ++t) {
    const float* row = scored.row(t);
    // {} prints a float in its shortest form that reads back to the same float.
    put(fmt::format("[{}]{}\n", fmt::join(row, row + scored.vocab_size, ","), t + 1 < length ? "," : ""));
  }
  put("]}\n");
  file.commit();
}

}  // namespace kiln::train
