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

int64_t GptConfig::expert_width() const { return moe.moe_inter_dim > 0 ? moe.moe_inter_dim : ffn_width(); }

int64_t GptConfig::kv_cache_values_per_token(bool mla_absorbed) const {
  if (attention == AttentionKind::mla)
    return mla_absorbed ? mla.kv_lora_rank + mla.qk_rope_head_dim
                        : n_head * (mla.qk_head_dim() + mla.v_head_dim);
  return 2 * (arch == DecoderArch::llama ? n_kv_head : n_head) * head_dim();
}

void GptConfig::validate() const {
  // Upper bounds far above any model this CPU trains (DeepSeek-V3's 671B fits
  // them), so that sizes read from a file never overflow the products below.
  KILN_CHECK(vocab_size <= (int64_t{1} << 22) && d_model <= (int64_t{1} << 16) && n_layer <= 4096 &&
                 n_head <= 4096 && n_kv_head <= 4096 && ffn_hidden <= (int64_t{1} << 20) &&
                 max_seq_len <= (int64_t{1} << 24) && mtp_depth <= 64,
             "model sizes out of range: vocab_size {} (at most 2^22), d_model {} (2^16), n_layer {} (4096), n_head {} "
             "and n_kv_head {} (4096), ffn_hidden {} (2^20), max_seq_len {} (2^24), mtp_depth {} (64)",
             vocab_size, d_model, n_layer, n_head, n_kv_head, ffn_hidden, max_seq_len, mtp_depth);
  KILN_CHECK(moe.n_routed_experts <= 4096 && moe.n_shared_experts <= 64 && moe.moe_inter_dim <= (int64_t{1} << 20) &&
                 mla.q_lora_rank <= (int64_t{1} << 16) && mla.kv_lora_rank <= (int64_t{1} << 16) &&
                 mla.qk_nope_head_dim <= 4096 && mla.qk_rope_head_dim <= 4096 && mla.v_head_dim <= 4096,
             "MoE/MLA sizes out of range (experts at most 4096, widths and ranks at most 2^16 or 2^20)");
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
  const bool deepseek = attention == AttentionKind::mla || moe.enabled() || mtp_depth > 0;
  KILN_CHECK(!deepseek || arch == DecoderArch::llama, "MLA, MoE and MTP need model.arch = llama");
  if (attention == AttentionKind::mla) {
    KILN_CHECK(mla.kv_lora_rank >= 1 && mla.q_lora_rank >= 0, "model.kv_lora_rank must be positive");
    KILN_CHECK(mla.qk_nope_head_dim >= 1 && mla.v_head_dim >= 1, "model.qk_nope_head_dim and v_head_dim must be positive");
    KILN_CHECK(mla.qk_rope_head_dim >= 2 && mla.qk_rope_head_dim % 2 == 0,
               "model.qk_rope_head_dim must be even and at least 2, got {}", mla.qk_rope_head_dim);
  }
  if (moe.enabled()) {
    KILN_CHECK(moe.n_activated_experts >= 1 && moe.n_activated_experts <= moe.n_routed_experts,
               "model.n_activated_experts ({}) must be between 1 and n_routed_experts ({})", moe.n_activated_experts,
               moe.n_routed_experts);
    KILN_CHECK(moe.n_shared_experts >= 0, "model.n_shared_experts must not be negative");
    KILN_CHECK(moe.n_expert_groups >= 1 && moe.n_routed_experts % moe.n_expert_groups == 0,
               "model.n_expert_groups ({}) must divide n_routed_experts ({})", moe.n_expert_groups,
               moe.n_routed_experts);
    const int64_t per_group = moe.n_routed_experts / moe.n_expert_groups;
    KILN_CHECK(moe.n_limited_groups >= 1 && moe.n_limited_groups <= moe.n_expert_groups,
               "model.n_limited_groups ({}) must be between 1 and n_expert_groups ({})", moe.n_limited_groups,
               moe.n_expert_groups);
    KILN_CHECK(moe.n_limited_groups * per_group >= moe.n_activated_experts,
               "model.n_limited_groups keep {} experts, fewer than n_activated_experts ({})",
               moe.n_limited_groups * per_group, moe.n_activated_experts);
    KILN_CHECK(moe.n_expert_groups == 1 || per_group >= 2, "expert groups need at least 2 experts each");
    KILN_CHECK(moe.first_k_dense >= 0, "model.first_k_dense must not be negative");
    KILN_CHECK(moe.route_scale > 0, "model.route_scale must be positive");
  }
  if (mrope()) {
    KILN_CHECK(arch == DecoderArch::llama && attention == AttentionKind::mha && mtp_depth == 0,
               "M-RoPE needs model.arch = llama with multi-head attention and no MTP");
    KILN_CHECK(mrope_section[0] >= 0 && mrope_section[1] >= 0 && mrope_section[2] >= 0 &&
                   mrope_section[0] + mrope_section[1] + mrope_section[2] == head_dim() / 2,
               "model.mrope_section sums to {}, expected head_dim/2 = {}",
               mrope_section[0] + mrope_section[1] + mrope_section[2], head_dim() / 2);
  }
  KILN_CHECK(!qkv_bias || (arch == DecoderArch::llama && attention == AttentionKind::mha),
             "model.qkv_bias needs model.arch = llama with multi-head attention");
  KILN_CHECK(mtp_depth >= 0 && mtp_depth <= 8, "model.mtp_depth must be between 0 and 8, got {}", mtp_depth);
}

int64_t GptConfig::parameter_count() const {
  const int64_t d = d_model, f = ffn_width(), kv = n_kv_head * head_dim();
  if (arch == DecoderArch::gpt2) {
    const int64_t per_layer = (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d) + 4 * d;
    int64_t total = vocab_size * d + n_layer * per_layer + 2 * d + max_seq_len * d;
    if (!tie_embeddings) total += vocab_size * d;
    return total;
  }
  int64_t attention_params = d * d + 2 * d * kv + d * d + (qkv_bias ? d + 2 * kv : 0);
  if (attention == AttentionKind::mla) {
    const MlaConfig& m = mla;
    const int64_t q = m.q_lora_rank > 0 ? d * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * n_head * m.qk_head_dim()
                                        : d * n_head * m.qk_head_dim();
    attention_params = q + d * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank +
                       m.kv_lora_rank * n_head * (m.qk_nope_head_dim + m.v_head_dim) + n_head * m.v_head_dim * d;
  }
  const int64_t e = expert_width();
  const int64_t moe_params = moe.n_routed_experts * 3 * d * e + moe.n_shared_experts * 3 * d * e +
                             moe.n_routed_experts * d + moe.n_routed_experts;
  const auto layer_params = [&](int64_t layer) {
    return attention_params + 2 * d + (is_moe_layer(layer) ? moe_params : 3 * d * f);
  };
  int64_t total = vocab_size * d + d;
  for (int64_t l = 0; l < n_layer; ++l) total += layer_params(l);
  for (int64_t k = 0; k < mtp_depth; ++k) total += layer_params(n_layer + k) + 2 * d * d + 3 * d;
  if (!tie_embeddings) total += vocab_size * d;
  return total;
}

}  // namespace kiln::models
