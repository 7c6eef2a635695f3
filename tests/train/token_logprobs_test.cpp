// score_token_ids (one forward pass over the whole sequence, the training
// path) against the decoding path (the KV cache, one token at a time, the
// path llama.cpp's own evaluation resembles): the same log-probabilities for
// the LLaMA block, GQA and the GPT-2 block; and the token file reader.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/base/error.hpp"
#include "kiln/models/gpt/model.hpp"
#include "kiln/train/token_logprobs.hpp"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;
using models::DecoderArch;
using models::GptConfig;

GptConfig tiny(DecoderArch arch) {
  GptConfig c;
  c.arch = arch;
  c.vocab_size = 97;
  c.n_layer = 2;
  c.d_model = 32;
  c.n_head = 4;
  c.n_kv_head = arch == DecoderArch::llama ? 2 : 4;
  c.max_seq_len = 24;
  c.init_std = 0.2;
  return c;
}

TEST(TokenLogprobs, OnePassEqualsTokenByTokenDecoding) {
  for (const DecoderArch arch : {DecoderArch::llama, DecoderArch::gpt2}) {
    SCOPED_TRACE(arch == DecoderArch::llama ? "llama" : "gpt2");
    const models::GptModel model(tiny(arch), 3);
    std::vector<int32_t> ids;
    for (int32_t i = 0; i < 20; ++i) ids.push_back((i * 31 + 7) % 97);
    const TokenLogprobs scored = score_token_ids(model, ids);
    ASSERT_EQ(scored.logprobs.size(), ids.size() * 97);

    NoGradGuard no_grad;
    models::KvCache cache = model.new_cache(static_cast<int64_t>(ids.size()));
    double worst = 0, nll = 0;
    for (size_t t = 0; t < ids.size(); ++t) {
      const std::vector<float> logits =
          model.decode(Tensor::from<int64_t>({ids[t]}, {1}), cache).select(0, 0).to_vector<float>();
      double total = 0;
      for (float l : logits) total += std::exp(static_cast<double>(l));
      for (size_t v = 0; v < logits.size(); ++v) {
        const double expected = logits[v] - std::log(total);
        worst = std::max(worst, std::abs(expected - scored.row(static_cast<int64_t>(t))[v]));
        if (t + 1 < ids.size() && static_cast<int32_t>(v) == ids[t + 1]) nll -= expected;
      }
    }
    EXPECT_LT(worst, 2e-5);
    EXPECT_NEAR(scored.mean_nll, nll / 19.0, 1e-5);
    EXPECT_NEAR(scored.perplexity, std::exp(scored.mean_nll), 1e-9);
  }
}

TEST(TokenLogprobs, GptTwoTakesAtMostItsPositions) {
  const models::GptModel model(tiny(DecoderArch::gpt2), 3);
  EXPECT_THROW(score_token_ids(model, std::vector<int32_t>(25, 1)), Error);
  EXPECT_NO_THROW(score_token_ids(model, std::vector<int32_t>(24, 1)));
  const TokenLogprobs one = score_token_ids(model, {5});
  EXPECT_EQ(one.perplexity, 1.0);  // nothing predicted
}

TEST(TokenLogprobs, ReadsWhitespaceAndJsonArrays) {
  const fs::path dir = fs::temp_directory_path() / ("kiln_token_ids_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "words.txt") << "3 1\n4\t1  5\n";
  std::ofstream(dir / "array.json") << "  [3, 1, 4, 1, 5]\n";
  const std::vector<int32_t> expected = {3, 1, 4, 1, 5};
  EXPECT_EQ(read_token_ids(dir / "words.txt", 6), expected);
  EXPECT_EQ(read_token_ids(dir / "array.json", 6), expected);
  EXPECT_THROW(read_token_ids(dir / "words.txt", 5), Error);  // id 5 of a vocabulary of 5
  EXPECT_THROW(read_token_ids(dir / "absent.txt", 6), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln::train
