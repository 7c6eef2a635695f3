#pragma once
// Shape and behaviour of a decoder-only language model. One config covers
// the DeepSeek-LLM / LLaMA block (RMSNorm, RoPE, SwiGLU, GQA, no biases) and
// GPT-2 (LayerNorm, GELU MLP, learned positions, biases, tied embeddings).
#include <array>
#include <cstdint>
#include <string>

namespace kiln::models {

enum class DecoderArch { llama, gpt2 };
enum class AttentionKind { mha, mla };  // mha covers MHA, GQA and MQA

// Multi-head latent attention (DeepSeek-V2, arXiv 2405.04434, §2.1;
// DeepSeek-V3, arXiv 2412.19437, §2.1.1): keys and values come from one
// normalised latent of kv_lora_rank values per token, plus one rotary key of
// qk_rope_head_dim shared by all heads.
struct MlaConfig {
  int64_t q_lora_rank = 0;  // 0: queries straight from the input (V2-Lite)
  int64_t kv_lora_rank = 32;
  int64_t qk_nope_head_dim = 16;
  int64_t qk_rope_head_dim = 8;
  int64_t v_head_dim = 16;
  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
};

// DeepSeekMoE with auxiliary-loss-free balancing (DeepSeek-V3,
// arXiv 2412.19437, §2.1.2; Wang et al., arXiv 2408.15664). Layers from
// first_k_dense on replace the SwiGLU FFN with shared + routed experts.
struct MoeConfig {
  int64_t n_routed_experts = 0;  // 0: every layer dense
  int64_t n_shared_experts = 1;
  int64_t n_activated_experts = 2;
  int64_t moe_inter_dim = 0;  // 0: the dense ffn_width()
  int64_t n_expert_groups = 1;
  int64_t n_limited_groups = 1;
  int64_t first_k_dense = 1;
  double route_scale = 1.0;
  double bias_update_speed = 0.001;  // γ; 0 turns the balancing off
  double seq_aux_alpha = 1e-4;       // α of the complementary sequence-wise balance loss
  bool enabled() const { return n_routed_experts > 0; }
};

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
  AttentionKind attention = AttentionKind::mha;  // mla: llama arch only
  MlaConfig mla;
  MoeConfig moe;
  int64_t mtp_depth = 0;  // D sequential multi-token-prediction modules (DeepSeek-V3 §2.2)
  // M-RoPE (Qwen2-VL, arXiv 2409.12191): slots of the half-split pairs driven
  // by (t, h, w) position ids over these section sizes, summing to
  // head_dim/2; all zero = 1-D RoPE. Interleaved sections as Qwen3-VL.
  std::array<int64_t, 3> mrope_section{0, 0, 0};
  bool mrope_interleaved = false;
  bool qkv_bias = false;  // Qwen2's biases on q/k/v projections (o_proj has none)

  bool mrope() const { return mrope_section[0] + mrope_section[1] + mrope_section[2] > 0; }

  int64_t head_dim() const { return d_model / n_head; }
  int64_t ffn_width() const;
  int64_t expert_width() const;  // moe_inter_dim, or ffn_width() when 0
  bool is_moe_layer(int64_t layer) const { return moe.enabled() && layer >= moe.first_k_dense; }
  // Key/value values cached per token and layer by generation (MLA absorbed: d_c + d_rope).
  int64_t kv_cache_values_per_token(bool mla_absorbed) const;
  void validate() const;  // kiln::Error naming the first bad field
  int64_t parameter_count() const;
  std::string arch_name() const { return arch == DecoderArch::llama ? "llama" : "gpt2"; }
};

// SwiGLU width rule of the LLaMA reference: int(2·4d/3) rounded up to a multiple.
int64_t llama_ffn_width(int64_t d_model, int64_t multiple_of);

}  // namespace kiln::models
