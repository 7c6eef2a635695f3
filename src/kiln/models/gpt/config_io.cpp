#include "kiln/models/gpt/config_io.hpp"

#include "kiln/base/printable.hpp"
#include "kiln/io/json_field.hpp"

namespace kiln::models {

GptConfig read_gpt_config(io::ConfigFile& f) {
  GptConfig m;
  const std::string arch = f.get_string("model.arch", "llama", {"llama", "gpt2"});
  m.arch = arch == "llama" ? DecoderArch::llama : DecoderArch::gpt2;
  m.n_layer = f.get_int("model.n_layer", m.n_layer, 1, 1024);
  m.d_model = f.get_int("model.d_model", m.d_model, 1, 1 << 16);
  m.n_head = f.get_int("model.n_head", m.n_head, 1, 1024);
  m.n_kv_head = f.get_int("model.n_kv_head", m.n_head, 1, 1024);
  m.ffn_hidden = f.get_int("model.ffn_hidden", 0, 0, 1 << 20);
  m.ffn_multiple_of = f.get_int("model.ffn_multiple_of", m.ffn_multiple_of, 1, 1 << 16);
  m.max_seq_len = f.get_int("model.max_seq_len", 0, 0, 1 << 20);
  m.norm_eps = f.get_double("model.norm_eps", m.arch == DecoderArch::llama ? 1e-6 : 1e-5, 1e-12, 1e-1);
  m.rope_theta = f.get_double("model.rope_theta", m.rope_theta, 1, 1e9);
  m.rope_interleaved = f.get_bool("model.rope_interleaved", m.rope_interleaved);
  m.tie_embeddings = f.get_bool("model.tie_embeddings", m.arch == DecoderArch::gpt2);
  m.init_std = f.get_double("model.init_std", m.arch == DecoderArch::llama ? 0.006 : 0.02, 1e-6, 1.0);
  m.scaled_residual_init = f.get_bool("model.scaled_residual_init", m.arch == DecoderArch::gpt2);
  // DeepSeek-V2/V3 switches (DeepSeek-V2, arXiv 2405.04434; DeepSeek-V3, arXiv 2412.19437); names follow the
  // Hugging Face DeepSeek-V3 config.
  const std::string attention = f.get_string("model.attention", "mha", {"mha", "mla"});
  m.attention = attention == "mla" ? AttentionKind::mla : AttentionKind::mha;
  m.mla.q_lora_rank = f.get_int("model.q_lora_rank", m.mla.q_lora_rank, 0, 1 << 16);
  m.mla.kv_lora_rank = f.get_int("model.kv_lora_rank", m.mla.kv_lora_rank, 1, 1 << 16);
  m.mla.qk_nope_head_dim = f.get_int("model.qk_nope_head_dim", m.mla.qk_nope_head_dim, 1, 4096);
  m.mla.qk_rope_head_dim = f.get_int("model.qk_rope_head_dim", m.mla.qk_rope_head_dim, 2, 4096);
  m.mla.v_head_dim = f.get_int("model.v_head_dim", m.mla.v_head_dim, 1, 4096);
  MoeConfig& moe = m.moe;
  moe.n_routed_experts = f.get_int("model.n_routed_experts", 0, 0, 4096);
  moe.n_shared_experts = f.get_int("model.n_shared_experts", moe.n_shared_experts, 0, 64);
  moe.n_activated_experts = f.get_int("model.n_activated_experts", moe.n_activated_experts, 1, 4096);
  moe.moe_inter_dim = f.get_int("model.moe_inter_dim", 0, 0, 1 << 20);
  moe.n_expert_groups = f.get_int("model.n_expert_groups", 1, 1, 4096);
  moe.n_limited_groups = f.get_int("model.n_limited_groups", moe.n_expert_groups, 1, 4096);
  moe.first_k_dense = f.get_int("model.first_k_dense", moe.first_k_dense, 0, 1024);
  moe.route_scale = f.get_double("model.route_scale", moe.route_scale, 1e-6, 1e6);
  moe.bias_update_speed = f.get_double("model.bias_update_speed", moe.bias_update_speed, 0, 1);
  moe.seq_aux_alpha = f.get_double("model.seq_aux_alpha", moe.seq_aux_alpha, 0, 1);
  m.mtp_depth = f.get_int("model.mtp_depth", 0, 0, 8);
  return m;
}

nlohmann::json gpt_config_json(const GptConfig& c) {
  const bool llama = c.arch == DecoderArch::llama;
  nlohmann::json json = {
      {"architectures", {llama ? "LlamaForCausalLM" : "GPT2LMHeadModel"}},
      {"model_type", llama ? "llama" : "gpt2"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.d_model},
      {"num_hidden_layers", c.n_layer},
      {"num_attention_heads", c.n_head},
      {"num_key_value_heads", c.n_kv_head},
      {"intermediate_size", c.ffn_width()},
      {"max_position_embeddings", c.max_seq_len},
      {llama ? "rms_norm_eps" : "layer_norm_epsilon", c.norm_eps},
      {"rope_theta", c.rope_theta},
      {"tie_word_embeddings", c.tie_embeddings},
      {"torch_dtype", "float32"},
      {"kiln", {{"rope_interleaved", c.rope_interleaved},
                {"init_std", c.init_std},
                {"scaled_residual_init", c.scaled_residual_init},
                {"weight_layout", "[out, in]"}}},
  };
  const bool deepseek = c.attention == AttentionKind::mla || c.moe.enabled() || c.mtp_depth > 0;
  if (!deepseek) return json;
  // Hugging Face DeepSeek-V3 field names, so the file reads as a DeepSeek config.
  json["architectures"] = {"DeepseekV3ForCausalLM"};
  json["model_type"] = "deepseek_v3";
  json["kiln"]["attention"] = c.attention == AttentionKind::mla ? "mla" : "mha";
  if (c.attention == AttentionKind::mla) {
    json["q_lora_rank"] = c.mla.q_lora_rank > 0 ? nlohmann::json(c.mla.q_lora_rank) : nlohmann::json(nullptr);
    json["kv_lora_rank"] = c.mla.kv_lora_rank;
    json["qk_nope_head_dim"] = c.mla.qk_nope_head_dim;
    json["qk_rope_head_dim"] = c.mla.qk_rope_head_dim;
    json["v_head_dim"] = c.mla.v_head_dim;
  }
  if (c.moe.enabled()) {
    json["n_routed_experts"] = c.moe.n_routed_experts;
    json["n_shared_experts"] = c.moe.n_shared_experts;
    json["num_experts_per_tok"] = c.moe.n_activated_experts;
    json["moe_intermediate_size"] = c.expert_width();
    json["n_group"] = c.moe.n_expert_groups;
    json["topk_group"] = c.moe.n_limited_groups;
    json["first_k_dense_replace"] = c.moe.first_k_dense;
    json["routed_scaling_factor"] = c.moe.route_scale;
    json["scoring_func"] = "sigmoid";
    json["topk_method"] = "noaux_tc";
    json["norm_topk_prob"] = true;
    json["aux_loss_alpha"] = c.moe.seq_aux_alpha;
    json["kiln"]["bias_update_speed"] = c.moe.bias_update_speed;
  }
  json["num_nextn_predict_layers"] = c.mtp_depth;
  return json;
}

GptConfig gpt_config_from_json(const nlohmann::json& json, const std::string& source) {
  GptConfig c;
  const auto type = io::json_field<std::string>(json, "model_type", source);
  KILN_CHECK(type == "llama" || type == "gpt2" || type == "deepseek_v3",
             "{}: model_type '{}' is not a kiln decoder (llama, gpt2 or deepseek_v3)", source, printable(type));
  c.arch = type == "gpt2" ? DecoderArch::gpt2 : DecoderArch::llama;
  // The same bounds as GptConfig::validate, named by their JSON fields.
  c.vocab_size = io::json_int(json, "vocab_size", 1, int64_t{1} << 22, source);
  c.d_model = io::json_int(json, "hidden_size", 1, int64_t{1} << 16, source);
  c.n_layer = io::json_int(json, "num_hidden_layers", 1, 4096, source);
  c.n_head = io::json_int(json, "num_attention_heads", 1, 4096, source);
  c.n_kv_head = io::json_int(json, "num_key_value_heads", 1, 4096, source);
  c.ffn_hidden = io::json_int(json, "intermediate_size", 1, int64_t{1} << 20, source);
  c.max_seq_len = io::json_int(json, "max_position_embeddings", 1, int64_t{1} << 24, source);
  c.norm_eps = io::json_field<double>(json, c.arch == DecoderArch::llama ? "rms_norm_eps" : "layer_norm_epsilon", source);
  c.rope_theta = io::json_field<double>(json, "rope_theta", source);
  c.tie_embeddings = io::json_field<bool>(json, "tie_word_embeddings", source);
  if (json.contains("kiln")) {
    const auto& k = json["kiln"];
    c.rope_interleaved = io::json_field_or(k, "rope_interleaved", c.rope_interleaved, source);
    c.init_std = io::json_field_or(k, "init_std", c.init_std, source);
    c.scaled_residual_init = io::json_field_or(k, "scaled_residual_init", c.scaled_residual_init, source);
    c.attention = io::json_field_or<std::string>(k, "attention", "mha", source) == "mla" ? AttentionKind::mla : AttentionKind::mha;
    c.moe.bias_update_speed = io::json_field_or(k, "bias_update_speed", c.moe.bias_update_speed, source);
  }
  if (type == "deepseek_v3") {
    if (!json.contains("kiln")) c.attention = AttentionKind::mla;
    if (c.attention == AttentionKind::mla) {
      c.mla.q_lora_rank = json.value("q_lora_rank", nlohmann::json(0)).is_null() ? 0 : io::json_field<int64_t>(json, "q_lora_rank", source);
      c.mla.kv_lora_rank = io::json_field<int64_t>(json, "kv_lora_rank", source);
      c.mla.qk_nope_head_dim = io::json_field<int64_t>(json, "qk_nope_head_dim", source);
      c.mla.qk_rope_head_dim = io::json_field<int64_t>(json, "qk_rope_head_dim", source);
      c.mla.v_head_dim = io::json_field<int64_t>(json, "v_head_dim", source);
    }
    if (json.contains("n_routed_experts") && !json["n_routed_experts"].is_null()) {
      c.moe.n_routed_experts = io::json_field<int64_t>(json, "n_routed_experts", source);
      c.moe.n_shared_experts = io::json_field<int64_t>(json, "n_shared_experts", source);
      c.moe.n_activated_experts = io::json_field<int64_t>(json, "num_experts_per_tok", source);
      c.moe.moe_inter_dim = io::json_field<int64_t>(json, "moe_intermediate_size", source);
      c.moe.n_expert_groups = io::json_field<int64_t>(json, "n_group", source);
      c.moe.n_limited_groups = io::json_field<int64_t>(json, "topk_group", source);
      c.moe.first_k_dense = io::json_field<int64_t>(json, "first_k_dense_replace", source);
      c.moe.route_scale = io::json_field<double>(json, "routed_scaling_factor", source);
      c.moe.seq_aux_alpha = io::json_field_or(json, "aux_loss_alpha", c.moe.seq_aux_alpha, source);
      const auto scoring = io::json_field_or<std::string>(json, "scoring_func", "sigmoid", source);
      KILN_CHECK(scoring == "sigmoid", "{}: scoring_func '{}' is not supported (kiln routes with sigmoid, as V3)", source,
                 scoring);
    }
    c.mtp_depth = io::json_field_or(json, "num_nextn_predict_layers", int64_t{0}, source);
  }
  try {
    c.validate();
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  }
  c.validate();
  return c;
}

}  // namespace kiln::models
