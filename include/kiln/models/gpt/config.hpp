#pragma once
// Shape and behaviour of a decoder-only language model. One config covers
// the DeepSeek-LLM / LLaMA block (RMSNorm, RoPE, SwiGLU, GQA, no biases) and
// GPT-2 (LayerNorm, GELU MLP, learned positions, biases, tied embeddings).
#include <cstdint>
#include <string>

namespace kiln::models {

enum class DecoderArch { llama, gpt2 };

struct GptConfig {
  DecoderArch arch = DecoderArch::llama;
  int64_t vocab_size = 256;
  int64_t n_layer = 2;
  int64_t d_model = 64;
  int64_t n_head = 4;
  int64_t n_kv_head = 4;   // GQA when < n_head (llama only)
  int64_t ffn_hidden = 0;  // 0: LLaMA's rule from d_model (or 4·d for GPT-2)
  int64_t ffn_multiple_of = 256;
  int64_t max_seq_len = 128;
  double norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool rope_interleaved = true;  // (2i, 2i+1) pairs, as the Meta and DeepSeek references
  bool tie_embeddings = false;
  double init_std = 0.006;     // DeepSeek LLM; GPT-2 uses 0.02
  bool scaled_residual_init = false;  // GPT-2: output projections use std/√(2L)

  int64_t head_dim() const { return d_model / n_head; }
  int64_t ffn_width() const;
  void validate() const;  // kiln::Error naming the first bad field
  int64_t parameter_count() const;
  std::string arch_name() const { return arch == DecoderArch::llama ? "llama" : "gpt2"; }
};

// SwiGLU width rule of the LLaMA reference: int(2·4d/3) rounded up to a multiple.
int64_t llama_ffn_width(int64_t d_model, int64_t multiple_of);

}  // namespace kiln::models
