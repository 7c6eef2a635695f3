#include "kiln/models/gpt/config.hpp"

#include "kiln/base/error.hpp"

namespace kiln::models {

int64_t llama_ffn_width(int64_t d_model, int64_t multiple_of) {
  const int64_t hidden = 2 * (4 * d_model) / 3;
  return multiple_of * ((hidden + multiple_of - 1) / multiple_of);
}

int64_t GptConfig::ffn_width() const {
  if (ffn_hidden > 0) return ffn_hidden;
  return arch == DecoderArch::llama ? llama_ffn_width(d_model, ffn_multiple_of) : 4 * d_model;
}

void GptConfig::validate() const {
  KILN_CHECK(vocab_size >= 2, "model.vocab_size must be at least 2, got {}", vocab_size);
  KILN_CHECK(n_layer >= 1, "model.n_layer must be at least 1, got {}", n_layer);
  KILN_CHECK(n_head >= 1 && d_model >= 1 && d_model % n_head == 0,
             "model.d_model ({}) must be a positive multiple of model.n_head ({})", d_model, n_head);
  KILN_CHECK(n_kv_head >= 1 && n_head % n_kv_head == 0, "model.n_kv_head ({}) must divide model.n_head ({})",
             n_kv_head, n_head);
  KILN_CHECK(arch == DecoderArch::llama || n_kv_head == n_head, "model.n_kv_head must equal model.n_head for gpt2");
  KILN_CHECK(arch == DecoderArch::gpt2 || head_dim() % 2 == 0, "model head dimension ({}) must be even for RoPE",
             head_dim());
  KILN_CHECK(max_seq_len >= 1, "model.max_seq_len must be at least 1, got {}", max_seq_len);
  KILN_CHECK(norm_eps > 0, "model.norm_eps must be positive");
  KILN_CHECK(init_std > 0, "model.init_std must be positive");
  KILN_CHECK(ffn_multiple_of >= 1, "model.ffn_multiple_of must be at least 1");
}

int64_t GptConfig::parameter_count() const {
  const int64_t d = d_model, f = ffn_width(), kv = n_kv_head * head_dim();
  int64_t per_layer = 0;
  if (arch == DecoderArch::llama) {
    per_layer = d * d + 2 * d * kv + d * d + 3 * d * f + 2 * d;
  } else {
    per_layer = (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d) + 4 * d;
  }
  int64_t total = vocab_size * d + n_layer * per_layer + (arch == DecoderArch::llama ? d : 2 * d);
  if (arch == DecoderArch::gpt2) total += max_seq_len * d;
  if (!tie_embeddings) total += vocab_size * d;
  return total;
}

}  // namespace kiln::models
