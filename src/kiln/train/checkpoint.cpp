#include "kiln/train/checkpoint.hpp"

#include <unistd.h>

#include <fstream>

#include "kiln/base/error.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/io/json_field.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

void write_text(const fs::path& path, const std::string& text) {
  io::AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  KILN_CHECK(in.good(), "{}: cannot open", path.string());
  nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
  KILN_CHECK(!json.is_discarded(), "{}: not valid JSON", path.string());
  return json;
}

}  // namespace

nlohmann::json config_to_json(const models::GptConfig& c) {
  const bool llama = c.arch == models::DecoderArch::llama;
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
  const bool deepseek = c.attention == models::AttentionKind::mla || c.moe.enabled() || c.mtp_depth > 0;
  if (!deepseek) return json;
  // Hugging Face DeepSeek-V3 field names, so the file reads as a DeepSeek config.
  json["architectures"] = {"DeepseekV3ForCausalLM"};
  json["model_type"] = "deepseek_v3";
  json["kiln"]["attention"] = c.attention == models::AttentionKind::mla ? "mla" : "mha";
  if (c.attention == models::AttentionKind::mla) {
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

models::GptConfig config_from_json(const nlohmann::json& json, const std::string& source) {
  models::GptConfig c;
  const auto type = io::json_field<std::string>(json, "model_type", source);
  KILN_CHECK(type == "llama" || type == "gpt2" || type == "deepseek_v3",
             "{}: model_type '{}' is not a kiln decoder (llama, gpt2 or deepseek_v3)", source, type);
  c.arch = type == "gpt2" ? models::DecoderArch::gpt2 : models::DecoderArch::llama;
  c.vocab_size = io::json_field<int64_t>(json, "vocab_size", source);
  c.d_model = io::json_field<int64_t>(json, "hidden_size", source);
  c.n_layer = io::json_field<int64_t>(json, "num_hidden_layers", source);
  c.n_head = io::json_field<int64_t>(json, "num_attention_heads", source);
  c.n_kv_head = io::json_field<int64_t>(json, "num_key_value_heads", source);
  c.ffn_hidden = io::json_field<int64_t>(json, "intermediate_size", source);
  c.max_seq_len = io::json_field<int64_t>(json, "max_position_embeddings", source);
  c.norm_eps = io::json_field<double>(json, c.arch == models::DecoderArch::llama ? "rms_norm_eps" : "layer_norm_epsilon", source);
  c.rope_theta = io::json_field<double>(json, "rope_theta", source);
  c.tie_embeddings = io::json_field<bool>(json, "tie_word_embeddings", source);
  if (json.contains("kiln")) {
    const auto& k = json["kiln"];
    c.rope_interleaved = k.value("rope_interleaved", c.rope_interleaved);
    c.init_std = k.value("init_std", c.init_std);
    c.scaled_residual_init = k.value("scaled_residual_init", c.scaled_residual_init);
    c.attention = k.value("attention", std::string("mha")) == "mla" ? models::AttentionKind::mla : models::AttentionKind::mha;
    c.moe.bias_update_speed = k.value("bias_update_speed", c.moe.bias_update_speed);
  }
  if (type == "deepseek_v3") {
    if (!json.contains("kiln")) c.attention = models::AttentionKind::mla;
    if (c.attention == models::AttentionKind::mla) {
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
      c.moe.seq_aux_alpha = json.value("aux_loss_alpha", c.moe.seq_aux_alpha);
      const std::string scoring = json.value("scoring_func", std::string("sigmoid"));
      KILN_CHECK(scoring == "sigmoid", "{}: scoring_func '{}' is not supported (kiln routes with sigmoid, as V3)", source,
                 scoring);
    }
    c.mtp_depth = json.value("num_nextn_predict_layers", int64_t{0});
  }
  try {
    c.validate();
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  }
  return c;
}

std::optional<fs::path> latest_checkpoint(const fs::path& run_dir) {
  const fs::path link = run_dir / "checkpoints" / "latest";
  std::error_code error;
  const fs::path target = fs::read_symlink(link, error);
  if (error) return std::nullopt;
  return run_dir / "checkpoints" / target;
}

fs::path save_checkpoint(const fs::path& run_dir, int64_t step, const models::GptConfig& config,
                         const io::TensorMap& weights, const io::TensorMap& optimizer,
                         const nlohmann::json& trainer_state, const fs::path& tokenizer_dir) {
  const fs::path root = run_dir / "checkpoints";
  fs::create_directories(root);
  const std::string name = fmt::format("step-{:07}", step);
  const fs::path staging = root / (name + fmt::format(".partial-{}", ::getpid()));
  fs::remove_all(staging);
  fs::create_directories(staging);
  write_text(staging / "config.json", config_to_json(config).dump(2) + "\n");
  io::save_safetensors(staging / "model.safetensors", weights, {{"format", "pt"}});
  if (!optimizer.empty()) io::save_safetensors(staging / "trainer_state.safetensors", optimizer);
  write_text(staging / "trainer_state.json", trainer_state.dump(2) + "\n");
  if (!tokenizer_dir.empty()) fs::copy(tokenizer_dir, staging / "tokenizer", fs::copy_options::recursive);
  const fs::path final_path = root / name;
  fs::remove_all(final_path);
  fs::rename(staging, final_path);
  // Swap the `latest` link atomically: a new link under a temporary name, renamed over the old.
  const fs::path temporary_link = root / fmt::format("latest.partial-{}", ::getpid());
  fs::remove(temporary_link);
  fs::create_directory_symlink(name, temporary_link);
  fs::rename(temporary_link, root / "latest");
  return final_path;
}

Checkpoint load_checkpoint(const fs::path& path, bool with_optimizer) {
  fs::path folder = path;
  if (!fs::exists(folder / "config.json")) {
    const auto latest = latest_checkpoint(path);
    KILN_CHECK(latest.has_value(), "{}: neither a checkpoint folder (config.json) nor a run with checkpoints",
               path.string());
    folder = *latest;
  }
  Checkpoint checkpoint;
  checkpoint.folder = folder;
  checkpoint.config = config_from_json(read_json(folder / "config.json"), (folder / "config.json").string());
  checkpoint.weights = io::load_safetensors(folder / "model.safetensors").tensors;
  checkpoint.trainer_state = fs::exists(folder / "trainer_state.json") ? read_json(folder / "trainer_state.json")
                                                                       : nlohmann::json::object();
  if (with_optimizer) {
    KILN_CHECK(fs::exists(folder / "trainer_state.safetensors"), "{}: no optimizer state to resume from",
               folder.string());
    checkpoint.optimizer = io::load_safetensors(folder / "trainer_state.safetensors").tensors;
  }
  return checkpoint;
}

}  // namespace kiln::train
