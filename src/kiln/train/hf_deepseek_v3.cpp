#include "kiln/train/hf_deepseek_v3.hpp"

#include <fmt/format.h>

#include "kiln/base/error.hpp"
#include "kiln/io/json_field.hpp"
#include "kiln/models/gpt/config_io.hpp"
#include "kiln/models/gpt/model.hpp"
#include "kiln/train/interop.hpp"

namespace kiln::train {

using models::AttentionKind;
using models::DecoderArch;
using models::GptConfig;

namespace {

std::string layer(int64_t index) { return fmt::format("model.layers.{}.", index); }

// Every kiln parameter of `config` with its shape (the model's own list, so nothing is missed).
std::map<std::string, Shape> parameter_shapes(const GptConfig& config) {
  const models::GptModel model(config, 0);
  std::map<std::string, Shape> shapes;
  for (const auto& [name, tensor] : model.parameters()) shapes[name] = tensor.shape();
  return shapes;
}

// The rotary rows of an MLA projection, `width` rows at `offset` inside each
// of `blocks` blocks of `block_rows`, regrouped between half-split and interleaved pairs.
Tensor regroup_rotary_rows(const Tensor& w, int64_t blocks, int64_t block_rows, int64_t offset, int64_t width,
                           bool to_interleaved) {
  Tensor out = w.clone();
  for (int64_t b = 0; b < blocks; ++b) {
    const Tensor rows = w.narrow(0, b * block_rows + offset, width);
    out.narrow(0, b * block_rows + offset, width)
        .copy_(to_interleaved ? half_split_to_interleaved(rows, 1) : interleaved_to_half_split(rows, 1));
  }
  return out;
}

// kiln (half-split RoPE) ↔ the release (interleaved) for the rotary rows of one tensor; others unchanged.
Tensor regroup_if_rotary(const GptConfig& c, const std::string& name, const Tensor& w, bool to_interleaved) {
  const models::MlaConfig& m = c.mla;
  if (name.ends_with("self_attn.q_proj.weight") || name.ends_with("self_attn.q_b_proj.weight"))
    return regroup_rotary_rows(w, c.n_head, m.qk_head_dim(), m.qk_nope_head_dim, m.qk_rope_head_dim, to_interleaved);
  if (name.ends_with("self_attn.kv_a_proj_with_mqa.weight"))
    return regroup_rotary_rows(w, 1, w.size(0), m.kv_lora_rank, m.qk_rope_head_dim, to_interleaved);
  return w;
}

std::string head_name(const GptConfig& c) { return c.tie_embeddings ? "model.embed_tokens.weight" : "lm_head.weight"; }

nlohmann::json id_or_null(int32_t id) { return id >= 0 ? nlohmann::json(id) : nlohmann::json(nullptr); }

}  // namespace

bool is_deepseek_v3(const GptConfig& c) {
  return c.arch == DecoderArch::llama && (c.attention == AttentionKind::mla || c.moe.enabled() || c.mtp_depth > 0);
}

nlohmann::json deepseek_v3_config_json(const GptConfig& c, const data::Tokenizer& tokenizer) {
  KILN_CHECK(c.attention == AttentionKind::mla,
             "this checkpoint has MoE or MTP on standard multi-head attention; DeepseekV3ForCausalLM always uses MLA, "
             "and no Hugging Face architecture computes this combination");
  const models::MlaConfig& m = c.mla;
  const models::MoeConfig& moe = c.moe;
  const bool routed = moe.enabled();
  const auto if_routed = [&](const nlohmann::json& value) { return routed ? value : nlohmann::json(nullptr); };
  return {
      {"architectures", {"DeepseekV3ForCausalLM"}},
      {"model_type", "deepseek_v3"},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.d_model},
      {"intermediate_size", c.ffn_width()},
      {"moe_intermediate_size", c.expert_width()},
      {"num_hidden_layers", c.n_layer},
      {"num_nextn_predict_layers", c.mtp_depth},
      {"num_attention_heads", c.n_head},
      {"num_key_value_heads", c.n_head},
      {"n_shared_experts", if_routed(moe.n_shared_experts)},
      {"n_routed_experts", if_routed(moe.n_routed_experts)},
      {"ep_size", 1},
      {"routed_scaling_factor", moe.route_scale},
      {"kv_lora_rank", m.kv_lora_rank},
      {"q_lora_rank", m.q_lora_rank > 0 ? nlohmann::json(m.q_lora_rank) : nlohmann::json(nullptr)},
      {"qk_rope_head_dim", m.qk_rope_head_dim},
      {"v_head_dim", m.v_head_dim},
      {"qk_nope_head_dim", m.qk_nope_head_dim},
      {"topk_method", "noaux_tc"},
      {"n_group", moe.n_expert_groups},
      {"topk_group", moe.n_limited_groups},
      {"num_experts_per_tok", if_routed(moe.n_activated_experts)},
      {"moe_layer_freq", 1},
      // Dense throughout: no main layer reaches the first MoE index.
      {"first_k_dense_replace", routed ? moe.first_k_dense : c.n_layer},
      {"norm_topk_prob", true},
      {"scoring_func", "sigmoid"},
      {"aux_loss_alpha", moe.seq_aux_alpha},
      {"seq_aux", true},
      {"hidden_act", "silu"},
      {"max_position_embeddings", c.max_seq_len},
      {"initializer_range", c.init_std},
      {"rms_norm_eps", c.norm_eps},
      {"use_cache", true},
      {"pad_token_id", nullptr},
      {"bos_token_id", id_or_null(tokenizer.bos_id())},
      {"eos_token_id", tokenizer.eos_id()},
      {"pretraining_tp", 1},
      {"tie_word_embeddings", c.tie_embeddings},
      {"rope_theta", c.rope_theta},
      {"rope_scaling", nullptr},
      {"rope_interleave", true},
      {"attention_bias", false},
      {"attention_dropout", 0.0},
      {"torch_dtype", "float32"},
      {"kiln",
       {{"source_rope_interleaved", c.rope_interleaved},
        {"init_std", c.init_std},
        {"scaled_residual_init", c.scaled_residual_init},
        {"bias_update_speed", moe.bias_update_speed},
        {"note", "written by kiln export hf; weights are in the DeepSeek-V3 release's layout"}}},
  };
}

io::TensorMap deepseek_v3_tensors_from_kiln(const GptConfig& c, const io::TensorMap& weights) {
  const auto shapes = parameter_shapes(c);
  for (const auto& [name, w] : weights)
    KILN_CHECK(shapes.count(name) != 0, "export: unexpected tensor '{}' in the checkpoint", name);
  io::TensorMap out;
  for (const auto& [name, shape] : shapes) {
    const auto it = weights.find(name);
    KILN_CHECK(it != weights.end(), "export: the checkpoint lacks tensor '{}'", name);
    KILN_CHECK(it->second.shape() == shape, "export: tensor '{}' is {}, the configuration needs {}", name,
               it->second.describe(), to_string(shape));
    const Tensor w = it->second.to(DType::f32).contiguous();
    out[name] = (c.rope_interleaved ? w : regroup_if_rotary(c, name, w, true)).clone();
  }
  // The release stores each MTP module's embedding and output head, which kiln shares with the main model.
  for (int64_t k = 0; k < c.mtp_depth; ++k) {
    const std::string p = layer(c.n_layer + k);
    out[p + "embed_tokens.weight"] = out.at("model.embed_tokens.weight").clone();
    out[p + "shared_head.head.weight"] = out.at(head_name(c)).clone();
  }
  return out;
}

GptConfig deepseek_v3_config_from_hf_json(const nlohmann::json& json, const std::string& source) {
  auto expect = [&](const std::string& key, const nlohmann::json& wanted) {
    if (!json.contains(key) || json[key].is_null()) return;
    KILN_CHECK(json[key] == wanted, "{}: field '{}' is {}; kiln computes only {}", source, key,
               json[key].dump().substr(0, 60), wanted.dump());
  };
  expect("hidden_act", "silu");
  expect("attention_bias", false);
  expect("rope_scaling", nullptr);
  expect("rope_interleave", true);
  expect("topk_method", "noaux_tc");
  expect("scoring_func", "sigmoid");
  expect("norm_topk_prob", true);
  expect("moe_layer_freq", 1);
  nlohmann::json kiln_view = json;
  // kiln's own reader knows DeepseekV3Config's names; a release folder lacks its "kiln" block and
  // rotates interleaved pairs, which is kiln's default.
  if (!kiln_view.contains("num_key_value_heads")) kiln_view["num_key_value_heads"] = json.value("num_attention_heads", 0);
  if (!kiln_view.contains("tie_word_embeddings")) kiln_view["tie_word_embeddings"] = false;
  if (!kiln_view.contains("rope_theta")) kiln_view["rope_theta"] = 10000.0;
  nlohmann::json kiln_block = {{"attention", "mla"}};
  if (json.contains("kiln") && json["kiln"].is_object()) {
    const auto& k = json["kiln"];
    kiln_block["rope_interleaved"] = io::json_field_or(k, "source_rope_interleaved", true, source + " kiln block");
    kiln_block["init_std"] = io::json_field_or(k, "init_std", 0.006, source + " kiln block");
    kiln_block["scaled_residual_init"] = io::json_field_or(k, "scaled_residual_init", false, source + " kiln block");
    kiln_block["bias_update_speed"] = io::json_field_or(k, "bias_update_speed", 0.001, source + " kiln block");
  }
  kiln_view["kiln"] = kiln_block;
  if (kiln_view.contains("n_routed_experts") && kiln_view["n_routed_experts"].is_null()) kiln_view.erase("n_routed_experts");
  GptConfig c = models::gpt_config_from_json(kiln_view, source);
  KILN_CHECK(c.n_kv_head == c.n_head, "{}: num_key_value_heads {} differs from num_attention_heads {}; MLA has one "
             "latent for all heads", source, c.n_kv_head, c.n_head);
  return c;
}

io::TensorMap kiln_tensors_from_deepseek_v3(const GptConfig& c, const io::TensorMap& hf, const std::string& source) {
  const auto shapes = parameter_shapes(c);
  io::TensorMap mtp_copies;
  for (int64_t k = 0; k < c.mtp_depth; ++k) {
    const std::string p = layer(c.n_layer + k);
    mtp_copies[p + "embed_tokens.weight"] = Tensor();
    mtp_copies[p + "shared_head.head.weight"] = Tensor();
  }
  for (const auto& [name, t] : hf) {
    if (mtp_copies.count(name) != 0) continue;
    if (name.ends_with("rotary_emb.inv_freq")) continue;  // a buffer older files carry
    if (c.tie_embeddings && name == "lm_head.weight") continue;
    KILN_CHECK(shapes.count(name) != 0, "{}: unexpected tensor '{}' for DeepseekV3ForCausalLM with this config.json",
               source, name);
  }
  io::TensorMap out;
  for (const auto& [name, shape] : shapes) {
    const auto it = hf.find(name);
    KILN_CHECK(it != hf.end(), "{}: missing tensor '{}'", source, name);
    const Tensor& t = it->second;
    KILN_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::bf16 || t.dtype() == DType::f64,
               "{}: tensor '{}' is {}; kiln imports f32, bf16 or f64 weights", source, name, dtype_name(t.dtype()));
    KILN_CHECK(t.shape() == shape, "{}: tensor '{}' is {}, config.json needs {}", source, name, t.describe(),
               to_string(shape));
    const Tensor w = t.to(DType::f32).contiguous();
    out[name] = (c.rope_interleaved ? w : regroup_if_rotary(c, name, w, false)).clone();
  }
  // kiln shares the embedding and head with its MTP modules: copies that differ cannot be kept.
  for (int64_t k = 0; k < c.mtp_depth; ++k) {
    const std::string p = layer(c.n_layer + k);
    for (const auto& [copy, shared] : {std::pair{p + "embed_tokens.weight", std::string("model.embed_tokens.weight")},
                                       std::pair{p + "shared_head.head.weight", head_name(c)}}) {
      const auto it = hf.find(copy);
      if (it == hf.end()) continue;  // optional: the shared tensor is what kiln uses
      const Tensor original = hf.at(shared).to(DType::f32).contiguous();
      KILN_CHECK(it->second.shape() == original.shape() &&
                     it->second.to(DType::f32).contiguous().to_vector<float>() == original.to_vector<float>(),
                 "{}: tensor '{}' differs from '{}'; kiln's MTP modules share the main model's embedding and head",
                 source, copy, shared);
    }
  }
  return out;
}

}  // namespace kiln::train
