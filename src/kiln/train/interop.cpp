#include "kiln/train/interop.hpp"

#include <algorithm>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "kiln/base/error.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/io/json_field.hpp"
#include "kiln/io/json_file.hpp"
#include "kiln/models/gpt/config_io.hpp"
#include "kiln/train/checkpoint.hpp"
#include "kiln/train/hf_deepseek_v3.hpp"
#include "kiln/train/hf_encoders.hpp"
#include "kiln/train/model_folder.hpp"

namespace kiln::train {

namespace fs = std::filesystem;
using models::DecoderArch;
using models::GptConfig;

namespace {

void write_text(const fs::path& path, const std::string& text) {
  io::AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_q_or_k(const std::string& name) {
  return ends_with(name, "self_attn.q_proj.weight") || ends_with(name, "self_attn.k_proj.weight");
}

// GPT-2's Conv1D layers keep weights as [in, out].
bool is_conv1d_weight(const std::string& name) {
  return ends_with(name, "attn.c_attn.weight") || ends_with(name, "attn.c_proj.weight") ||
         ends_with(name, "mlp.c_fc.weight") || ends_with(name, "mlp.c_proj.weight");
}

// Every parameter of the plain LLaMA / GPT-2 block with its kiln shape.
std::map<std::string, Shape> kiln_shapes(const GptConfig& c) {
  std::map<std::string, Shape> s;
  const int64_t d = c.d_model, v = c.vocab_size, f = c.ffn_width();
  if (c.arch == DecoderArch::llama) {
    const int64_t kv = c.n_kv_head * c.head_dim();
    s["model.embed_tokens.weight"] = {v, d};
    s["model.norm.weight"] = {d};
    for (int64_t l = 0; l < c.n_layer; ++l) {
      const std::string p = fmt::format("model.layers.{}.", l);
      s[p + "input_layernorm.weight"] = {d};
      s[p + "self_attn.q_proj.weight"] = {d, d};
      s[p + "self_attn.k_proj.weight"] = {kv, d};
      s[p + "self_attn.v_proj.weight"] = {kv, d};
      s[p + "self_attn.o_proj.weight"] = {d, d};
      s[p + "post_attention_layernorm.weight"] = {d};
      s[p + "mlp.gate_proj.weight"] = {f, d};
      s[p + "mlp.up_proj.weight"] = {f, d};
      s[p + "mlp.down_proj.weight"] = {d, f};
    }
  } else {
    s["transformer.wte.weight"] = {v, d};
    s["transformer.wpe.weight"] = {c.max_seq_len, d};
    for (int64_t l = 0; l < c.n_layer; ++l) {
      const std::string p = fmt::format("transformer.h.{}.", l);
      for (const char* ln : {"ln_1", "ln_2"}) {
        s[p + ln + ".weight"] = {d};
        s[p + ln + ".bias"] = {d};
      }
      s[p + "attn.c_attn.weight"] = {3 * d, d};
      s[p + "attn.c_attn.bias"] = {3 * d};
      s[p + "attn.c_proj.weight"] = {d, d};
      s[p + "attn.c_proj.bias"] = {d};
      s[p + "mlp.c_fc.weight"] = {f, d};
      s[p + "mlp.c_fc.bias"] = {f};
      s[p + "mlp.c_proj.weight"] = {d, f};
      s[p + "mlp.c_proj.bias"] = {d};
    }
    s["transformer.ln_f.weight"] = {d};
    s["transformer.ln_f.bias"] = {d};
  }
  if (!c.tie_embeddings) s["lm_head.weight"] = {v, d};
  return s;
}

Shape hf_shape(const std::string& name, const Shape& kiln) {
  return is_conv1d_weight(name) ? Shape{kiln[1], kiln[0]} : kiln;
}

Tensor regroup(const Tensor& w, int64_t heads, bool to_half_split) {
  KILN_CHECK(w.dim() == 2 && heads > 0 && w.size(0) % (2 * heads) == 0,
             "rope permutation: {} does not split into {} heads of even size", w.describe(), heads);
  const int64_t half = w.size(0) / heads / 2, in = w.size(1);
  // interleaved rows are [head, i, pair-member]; half-split rows are [head, pair-member, i].
  const Shape from = to_half_split ? Shape{heads, half, 2, in} : Shape{heads, 2, half, in};
  return w.contiguous().reshape(from).permute({0, 2, 1, 3}).contiguous().reshape({w.size(0), in});
}

std::string tokenizer_piece(const data::Tokenizer& t, int32_t id) { return id >= 0 ? t.piece(id) : std::string(); }

nlohmann::json token_id_or_null(int32_t id) { return id >= 0 ? nlohmann::json(id) : nlohmann::json(nullptr); }

}  // namespace

std::optional<data::Tokenizer> checkpoint_tokenizer(const fs::path& checkpoint) {
  const fs::path dir = checkpoint / "tokenizer";
  if (!fs::exists(dir / "tokenizer_config.json")) return std::nullopt;
  return data::Tokenizer::load(dir);
}

Tensor interleaved_to_half_split(const Tensor& w, int64_t heads) { return regroup(w, heads, true); }

Tensor half_split_to_interleaved(const Tensor& w, int64_t heads) { return regroup(w, heads, false); }

void check_hf_exportable(const GptConfig& c) {
  KILN_CHECK(!is_deepseek_v3(c) || c.attention == models::AttentionKind::mla,
             "this checkpoint has MoE or MTP on standard multi-head attention; DeepseekV3ForCausalLM always uses MLA, "
             "and no Hugging Face architecture computes this combination");
}

nlohmann::json hf_config_json(const GptConfig& c, const data::Tokenizer& tokenizer) {
  check_hf_exportable(c);
  if (is_deepseek_v3(c)) return deepseek_v3_config_json(c, tokenizer);
  nlohmann::json kiln = {{"source_rope_interleaved", c.rope_interleaved},
                         {"init_std", c.init_std},
                         {"scaled_residual_init", c.scaled_residual_init},
                         {"note", "written by kiln export hf; weights are in transformers' layout"}};
  if (c.arch == DecoderArch::llama) {
    // LlamaConfig (transformers/models/llama/configuration_llama.py).
    return {
        {"architectures", {"LlamaForCausalLM"}},
        {"model_type", "llama"},
        {"vocab_size", c.vocab_size},
        {"hidden_size", c.d_model},
        {"intermediate_size", c.ffn_width()},
        {"num_hidden_layers", c.n_layer},
        {"num_attention_heads", c.n_head},
        {"num_key_value_heads", c.n_kv_head},
        {"head_dim", c.head_dim()},
        {"hidden_act", "silu"},
        {"max_position_embeddings", c.max_seq_len},
        {"initializer_range", c.init_std},
        {"rms_norm_eps", c.norm_eps},
        {"use_cache", true},
        {"pad_token_id", nullptr},
        {"bos_token_id", token_id_or_null(tokenizer.bos_id())},
        {"eos_token_id", tokenizer.eos_id()},
        {"pretraining_tp", 1},
        {"tie_word_embeddings", c.tie_embeddings},
        {"rope_theta", c.rope_theta},
        {"rope_scaling", nullptr},
        {"attention_bias", false},
        {"attention_dropout", 0.0},
        {"mlp_bias", false},
        {"torch_dtype", "float32"},
        {"kiln", kiln},
    };
  }
  // GPT2Config (transformers/models/gpt2/configuration_gpt2.py); kiln trains without dropout.
  return {
      {"architectures", {"GPT2LMHeadModel"}},
      {"model_type", "gpt2"},
      {"vocab_size", c.vocab_size},
      {"n_positions", c.max_seq_len},
      {"n_embd", c.d_model},
      {"n_layer", c.n_layer},
      {"n_head", c.n_head},
      {"n_inner", c.ffn_width() == 4 * c.d_model ? nlohmann::json(nullptr) : nlohmann::json(c.ffn_width())},
      {"activation_function", "gelu_new"},
      {"resid_pdrop", 0.0},
      {"embd_pdrop", 0.0},
      {"attn_pdrop", 0.0},
      {"layer_norm_epsilon", c.norm_eps},
      {"initializer_range", c.init_std},
      {"scale_attn_weights", true},
      {"scale_attn_by_inverse_layer_idx", false},
      {"reorder_and_upcast_attn", false},
      {"use_cache", true},
      {"bos_token_id", token_id_or_null(tokenizer.bos_id())},
      {"eos_token_id", tokenizer.eos_id()},
      {"tie_word_embeddings", c.tie_embeddings},
      {"torch_dtype", "float32"},
      {"kiln", kiln},
  };
}

io::TensorMap hf_tensors_from_kiln(const GptConfig& c, const io::TensorMap& weights) {
  check_hf_exportable(c);
  if (is_deepseek_v3(c)) return deepseek_v3_tensors_from_kiln(c, weights);
  const auto shapes = kiln_shapes(c);
  for (const auto& [name, w] : weights)
    KILN_CHECK(shapes.count(name) != 0, "export: unexpected tensor '{}' in the checkpoint", name);
  io::TensorMap out;
  for (const auto& [name, shape] : shapes) {
    const auto it = weights.find(name);
    KILN_CHECK(it != weights.end(), "export: the checkpoint lacks tensor '{}'", name);
    KILN_CHECK(it->second.shape() == shape, "export: tensor '{}' is {}, the configuration needs {}", name,
               it->second.describe(), to_string(shape));
    Tensor w = it->second.to(DType::f32).contiguous();
    if (c.arch == DecoderArch::llama && c.rope_interleaved && is_q_or_k(name))
      w = interleaved_to_half_split(w, ends_with(name, "q_proj.weight") ? c.n_head : c.n_kv_head);
    if (c.arch == DecoderArch::gpt2 && is_conv1d_weight(name)) w = w.transpose(0, 1).contiguous();
    out[name] = w.clone();
  }
  return out;
}

GptConfig gpt_config_from_hf_json(const nlohmann::json& json, const std::string& source) {
  KILN_CHECK(json.is_object(), "{}: not a JSON object", source);
  std::string architecture = "(none)";
  if (json.contains("architectures") && json["architectures"].is_array() && !json["architectures"].empty() &&
      json["architectures"][0].is_string())
    architecture = json["architectures"][0].get<std::string>();
  const std::string type = json.contains("model_type") && json["model_type"].is_string()
                               ? json["model_type"].get<std::string>()
                               : std::string("(none)");
  KILN_CHECK((architecture == "LlamaForCausalLM" && type == "llama") || (architecture == "GPT2LMHeadModel" && type == "gpt2") ||
                 (architecture == "DeepseekV3ForCausalLM" && type == "deepseek_v3"),
             "{}: architecture '{}' (model_type '{}') is not one kiln imports (LlamaForCausalLM, GPT2LMHeadModel, "
             "DeepseekV3ForCausalLM, BertForMaskedLM, BertForSequenceClassification, BertForPreTraining, "
             "ViTForImageClassification)",
             source, architecture, type);
  if (type == "deepseek_v3") return deepseek_v3_config_from_hf_json(json, source);
  auto expect = [&](const std::string& key, const nlohmann::json& wanted) {
    if (!json.contains(key) || json[key].is_null()) return;
    KILN_CHECK(json[key] == wanted, "{}: field '{}' is {}; kiln computes only {}", source, key,
               json[key].dump().substr(0, 60), wanted.dump());
  };
  auto number = [&](const std::string& key, double fallback) {
    if (!json.contains(key) || json[key].is_null()) return fallback;
    return io::json_field<double>(json, key, source);
  };
  GptConfig c;
  const int64_t big = int64_t{1} << 24;
  if (type == "llama") {
    c.arch = DecoderArch::llama;
    c.vocab_size = io::json_int(json, "vocab_size", 1, big, source);
    c.d_model = io::json_int(json, "hidden_size", 1, 1 << 16, source);
    c.ffn_hidden = io::json_int(json, "intermediate_size", 1, 1 << 20, source);
    c.n_layer = io::json_int(json, "num_hidden_layers", 1, 1024, source);
    c.n_head = io::json_int(json, "num_attention_heads", 1, 1024, source);
    c.n_kv_head = json.contains("num_key_value_heads") && !json["num_key_value_heads"].is_null()
                      ? io::json_int(json, "num_key_value_heads", 1, 1024, source)
                      : c.n_head;
    c.max_seq_len = io::json_int(json, "max_position_embeddings", 1, 1 << 20, source);
    if (json.contains("head_dim") && !json["head_dim"].is_null())
      KILN_CHECK(c.d_model % c.n_head == 0 && io::json_int(json, "head_dim", 1, 1 << 16, source) == c.d_model / c.n_head,
                 "{}: head_dim {} is not hidden_size / num_attention_heads; kiln needs it to be", source,
                 json["head_dim"].dump());
    expect("hidden_act", "silu");
    expect("attention_bias", false);
    expect("mlp_bias", false);
    expect("rope_scaling", nullptr);
    c.norm_eps = number("rms_norm_eps", 1e-6);
    c.rope_theta = number("rope_theta", 10000.0);
    if (json.contains("rope_parameters") && json["rope_parameters"].is_object()) {
      const auto& rope = json["rope_parameters"];
      const auto rope_type = io::json_field_or<std::string>(rope, "rope_type", "default", source + " rope_parameters");
      KILN_CHECK(rope_type == "default", "{}: rope_parameters.rope_type '{}' is not supported (kiln: default)", source,
                 rope_type);
      if (rope.contains("rope_theta")) c.rope_theta = io::json_field<double>(rope, "rope_theta", source + " rope_parameters");
    }
    c.rope_interleaved = false;  // transformers' rotate_half pairs (i, i + d/2)
    c.tie_embeddings = json.contains("tie_word_embeddings") ? io::json_field<bool>(json, "tie_word_embeddings", source) : false;
    c.scaled_residual_init = false;
  } else {
    c.arch = DecoderArch::gpt2;
    c.vocab_size = io::json_int(json, "vocab_size", 1, big, source);
    c.d_model = io::json_int(json, "n_embd", 1, 1 << 16, source);
    c.n_layer = io::json_int(json, "n_layer", 1, 1024, source);
    c.n_head = io::json_int(json, "n_head", 1, 1024, source);
    c.n_kv_head = c.n_head;
    c.max_seq_len = io::json_int(json, "n_positions", 1, 1 << 20, source);
    c.ffn_hidden = json.contains("n_inner") && !json["n_inner"].is_null() ? io::json_int(json, "n_inner", 1, 1 << 20, source)
                                                                         : 4 * c.d_model;
    const auto act = io::json_field_or<std::string>(json, "activation_function", "gelu_new", source);
    KILN_CHECK(act == "gelu_new" || act == "gelu_pytorch_tanh",
               "{}: field 'activation_function' is '{}'; kiln computes only the tanh GELU (gelu_new)", source, act);
    expect("scale_attn_weights", true);
    expect("scale_attn_by_inverse_layer_idx", false);
    c.norm_eps = number("layer_norm_epsilon", 1e-5);
    c.tie_embeddings = json.contains("tie_word_embeddings") ? io::json_field<bool>(json, "tie_word_embeddings", source) : true;
    c.scaled_residual_init = true;
    c.rope_interleaved = GptConfig().rope_interleaved;  // no rotary positions in GPT-2: kiln's default
  }
  c.init_std = number("initializer_range", 0.02);
  if (json.contains("kiln") && json["kiln"].is_object()) {
    const auto& k = json["kiln"];
    try {
      c.rope_interleaved = k.value("source_rope_interleaved", c.rope_interleaved);
      c.init_std = k.value("init_std", c.init_std);
      c.scaled_residual_init = k.value("scaled_residual_init", c.scaled_residual_init);
    } catch (const nlohmann::json::exception&) {
      fail("{}: the 'kiln' block has a field of the wrong type ({})", source, k.dump().substr(0, 120));
    }
  }
  try {
    c.validate();
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  }
  return c;
}

io::TensorMap kiln_tensors_from_hf(const GptConfig& c, const io::TensorMap& hf, const std::string& source) {
  if (is_deepseek_v3(c)) return kiln_tensors_from_deepseek_v3(c, hf, source);
  const bool llama = c.arch == DecoderArch::llama;
  const auto shapes = kiln_shapes(c);
  io::TensorMap named;  // full state-dict names
  for (const auto& [raw, t] : hf) {
    std::string name = raw;
    // A base model's file (LlamaModel, GPT2Model) drops the model./transformer. prefix.
    if (llama && name.rfind("model.", 0) != 0 && name != "lm_head.weight") name = "model." + name;
    if (!llama && name.rfind("transformer.", 0) != 0 && name != "lm_head.weight") name = "transformer." + name;
    // Buffers older files carry: GPT-2's causal mask, LLaMA's rotary frequencies.
    if (ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias") || ends_with(name, "rotary_emb.inv_freq"))
      continue;
    if (c.tie_embeddings && name == "lm_head.weight") continue;  // tied: the embedding is the head
    KILN_CHECK(shapes.count(name) != 0, "{}: unexpected tensor '{}' for {} with this config.json", source, raw,
               llama ? "LlamaForCausalLM" : "GPT2LMHeadModel");
    named[name] = t;
  }
  io::TensorMap out;
  for (const auto& [name, shape] : shapes) {
    const auto it = named.find(name);
    KILN_CHECK(it != named.end(), "{}: missing tensor '{}'", source, name);
    const Tensor& t = it->second;
    KILN_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::bf16 || t.dtype() == DType::f64,
               "{}: tensor '{}' is {}; kiln imports f32, bf16 or f64 weights", source, name, dtype_name(t.dtype()));
    const Shape want = hf_shape(name, shape);
    KILN_CHECK(t.shape() == want, "{}: tensor '{}' is {}, config.json needs {}", source, name, t.describe(),
               to_string(want));
    Tensor w = t.to(DType::f32).contiguous();
    if (llama && c.rope_interleaved && is_q_or_k(name))
      w = half_split_to_interleaved(w, ends_with(name, "q_proj.weight") ? c.n_head : c.n_kv_head);
    if (!llama && is_conv1d_weight(name)) w = w.transpose(0, 1).contiguous();
    out[name] = w.clone();
  }
  return out;
}

ExportSummary export_hf(const fs::path& run, const fs::path& output, const PixelNormalisation& pixels) {
  if (const std::optional<fs::path> encoder = encoder_model_folder(run)) return export_hf_encoder(*encoder, output, pixels);
  const Checkpoint checkpoint = load_checkpoint(run, false);
  check_hf_exportable(checkpoint.config);
  const std::optional<data::Tokenizer> tokenizer = checkpoint_tokenizer(checkpoint.folder);
  const data::Tokenizer ids = tokenizer ? *tokenizer : data::Tokenizer::bytes();
  KILN_CHECK(tokenizer || ids.vocab_size() == checkpoint.config.vocab_size,
             "{}: no tokenizer/ folder, and the model's {} ids are not the bytes tokenizer's {}",
             checkpoint.folder.string(), checkpoint.config.vocab_size, ids.vocab_size());
  KILN_CHECK(ids.vocab_size() == checkpoint.config.vocab_size, "{}: the tokenizer has {} ids, the model {}",
             checkpoint.folder.string(), ids.vocab_size(), checkpoint.config.vocab_size);
  const GptConfig& c = checkpoint.config;
  const nlohmann::json config = hf_config_json(c, ids);
  const io::TensorMap tensors = hf_tensors_from_kiln(c, checkpoint.weights);
  const bool sentencepiece = tokenizer && tokenizer->kind() != "bytes";
  write_folder_staged(output, [&](const fs::path& staging) {
    io::save_safetensors(staging / "model.safetensors", tensors, {{"format", "pt"}});
    io::write_json_file(staging / "config.json", config);
    nlohmann::json generation = {{"_from_model_config", true}, {"eos_token_id", ids.eos_id()}};
    if (ids.bos_id() >= 0) generation["bos_token_id"] = ids.bos_id();
    io::write_json_file(staging / "generation_config.json", generation);
    if (!tokenizer) return;
    // kiln encodes documents without <s> and ends each with </s>: the tokenizer adds neither.
    nlohmann::json special = {{"eos_token", tokenizer_piece(ids, ids.eos_id())}};
    if (ids.bos_id() >= 0) special["bos_token"] = tokenizer_piece(ids, ids.bos_id());
    if (ids.unk_id() >= 0) special["unk_token"] = tokenizer_piece(ids, ids.unk_id());
    nlohmann::json tokenizer_config = special;
    tokenizer_config["add_bos_token"] = false;
    tokenizer_config["add_eos_token"] = false;
    tokenizer_config["pad_token"] = nullptr;
    tokenizer_config["model_max_length"] = c.max_seq_len;
    tokenizer_config["clean_up_tokenization_spaces"] = false;
    tokenizer_config["kiln_tokenizer_kind"] = tokenizer->kind();
    if (sentencepiece) {
      fs::copy_file(checkpoint.folder / "tokenizer" / "tokenizer.model", staging / "tokenizer.model");
      tokenizer_config["tokenizer_class"] = "LlamaTokenizer";
      tokenizer_config["legacy"] = true;
      tokenizer_config["sp_model_kwargs"] = nlohmann::json::object();
    }
    io::write_json_file(staging / "tokenizer_config.json", tokenizer_config);
    io::write_json_file(staging / "special_tokens_map.json", special);
  });
  ExportSummary summary;
  summary.checkpoint = checkpoint.folder;
  summary.output = output;
  summary.architecture = config["architectures"][0].get<std::string>();
  summary.tensors = static_cast<int64_t>(tensors.size());
  if (is_deepseek_v3(c))
    summary.layout = c.rope_interleaved ? "MLA rotary rows kept in interleaved pairs"
                                        : "MLA rotary rows regrouped from half-split to interleaved pairs";
  else if (c.arch == DecoderArch::llama && c.rope_interleaved)
    summary.layout = "q/k rows permuted from interleaved to half-split RoPE pairs";
  else if (c.arch == DecoderArch::gpt2)
    summary.layout = "Conv1D weights transposed to [in, out]";
  summary.tokenizer = sentencepiece ? "SentencePiece tokenizer.model" : "no Hugging Face tokenizer (bytes tokenizer)";
  return summary;
}

namespace {

io::TensorMap load_hf_weights(const fs::path& folder) {
  const fs::path single = folder / "model.safetensors";
  if (fs::exists(single)) return io::load_safetensors(single).tensors;
  const fs::path index = folder / "model.safetensors.index.json";
  KILN_CHECK(fs::exists(index), "{}: no model.safetensors (nor model.safetensors.index.json); kiln reads safetensors only",
             folder.string());
  const nlohmann::json json = io::read_json_object(index);
  KILN_CHECK(json.contains("weight_map") && json["weight_map"].is_object(), "{}: no weight_map", index.string());
  std::set<std::string> files;
  for (const auto& [name, file] : json["weight_map"].items()) {
    KILN_CHECK(file.is_string(), "{}: weight_map entry '{}' is not a file name", index.string(), name);
    files.insert(file.get<std::string>());
  }
  io::TensorMap all;
  for (const std::string& file : files) {
    KILN_CHECK(fs::path(file).filename() == fs::path(file), "{}: shard '{}' is not a file in the folder", index.string(), file);
    for (auto& [name, t] : io::load_safetensors(folder / file).tensors) {
      KILN_CHECK(all.count(name) == 0, "{}: tensor '{}' appears in two shards", index.string(), name);
      all[name] = t;
    }
  }
  return all;
}

data::Tokenizer hf_tokenizer(const fs::path& folder, const nlohmann::json& tokenizer_config) {
  const std::string kind = tokenizer_config.value("kiln_tokenizer_kind", std::string());
  if (fs::exists(folder / "tokenizer.model"))
    return data::Tokenizer::from_sentencepiece_file(folder / "tokenizer.model",
                                                    kind.rfind("sentencepiece-", 0) == 0 ? kind : "sentencepiece-hf");
  KILN_CHECK(kind == "bytes",
             "{}: no tokenizer.model; kiln imports SentencePiece tokenizers (tokenizer.json alone is not supported)",
             folder.string());
  return data::Tokenizer::bytes();
}

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

std::string toml_number(double v) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

// The DeepSeek-V3 keys of [model].
std::string deepseek_model_toml(const GptConfig& c) {
  const models::MlaConfig& m = c.mla;
  const models::MoeConfig& moe = c.moe;
  std::string toml = fmt::format(
      "# DeepSeek-V3 parts\nattention = \"{}\"\nq_lora_rank = {}\nkv_lora_rank = {}\n"
      "qk_nope_head_dim = {}\nqk_rope_head_dim = {}\nv_head_dim = {}\nmtp_depth = {}\n",
      c.attention == models::AttentionKind::mla ? "mla" : "mha", m.q_lora_rank, m.kv_lora_rank, m.qk_nope_head_dim,
      m.qk_rope_head_dim, m.v_head_dim, c.mtp_depth);
  if (moe.enabled())
    toml += fmt::format(
        "n_routed_experts = {}\nn_shared_experts = {}\nn_activated_experts = {}\n"
        "moe_inter_dim = {}\nn_expert_groups = {}\nn_limited_groups = {}\nfirst_k_dense = {}\n"
        "route_scale = {}\nbias_update_speed = {}\nseq_aux_alpha = {}\n",
        moe.n_routed_experts, moe.n_shared_experts, moe.n_activated_experts, c.expert_width(), moe.n_expert_groups,
        moe.n_limited_groups, moe.first_k_dense, toml_number(moe.route_scale), toml_number(moe.bias_update_speed),
        toml_number(moe.seq_aux_alpha));
  return toml;
}

}  // namespace

ImportSummary import_hf(const fs::path& folder, const fs::path& run) {
  const fs::path config_path = folder / "config.json";
  KILN_CHECK(fs::exists(config_path), "{}: no config.json (expected a Hugging Face model folder)", folder.string());
  const nlohmann::json json = io::read_json_object(config_path);
  if (is_encoder_config(json)) return import_hf_encoder(folder, json, run);
  const GptConfig config = gpt_config_from_hf_json(json, config_path.string());
  const io::TensorMap weights = kiln_tensors_from_hf(config, load_hf_weights(folder), folder.string());
  const nlohmann::json tokenizer_config =
      fs::exists(folder / "tokenizer_config.json") ? io::read_json_object(folder / "tokenizer_config.json") : nlohmann::json::object();
  const data::Tokenizer tokenizer = hf_tokenizer(folder, tokenizer_config);
  KILN_CHECK(tokenizer.vocab_size() == config.vocab_size,
             "{}: config.json has vocab_size {} but the tokenizer has {} ids; kiln needs them equal", folder.string(),
             config.vocab_size, tokenizer.vocab_size());
  KILN_CHECK(!fs::exists(run), "{}: already exists; import writes a new run folder", run.string());

  io::TensorMap optimizer;
  for (const auto& [name, w] : weights) {
    optimizer[name + ".exp_avg"] = Tensor::zeros(w.shape());
    optimizer[name + ".exp_avg_sq"] = Tensor::zeros(w.shape());
  }
  optimizer["step"] = Tensor::scalar(0, DType::i64);
  const nlohmann::json trainer_state = {{"step", 0},
                                        {"imported_from", fs::absolute(folder).lexically_normal().string()},
                                        {"model", models::gpt_config_json(config)}};
  const bool llama = config.arch == DecoderArch::llama;
  const fs::path where = fs::absolute(run).lexically_normal();
  fs::path checkpoint;
  write_folder_staged(run, [&](const fs::path& staging) {
    tokenizer.save(staging / "tokenizer");
    checkpoint = save_checkpoint(staging, 0, config, weights, optimizer, trainer_state, staging / "tokenizer");
    // The [model] table that rebuilds exactly this configuration, so `kiln train --resume` accepts the checkpoint.
    std::string toml = fmt::format(
        "# Written by kiln import hf from {}.\n"
        "# Continue training: kiln train -c {}/import.toml --set data.train=... --set data.valid=... --resume\n"
        "[run]\ndir = {}\n\n[tokenizer]\ndir = {}\n\n"
        "[model]\narch = \"{}\"\nn_layer = {}\nd_model = {}\nn_head = {}\nn_kv_head = {}\nffn_hidden = {}\n"
        "max_seq_len = {}\nnorm_eps = {}\nrope_theta = {}\nrope_interleaved = {}\ntie_embeddings = {}\n"
        "init_std = {}\nscaled_residual_init = {}\n{}\n[train]\ncontext = {}\n",
        folder.string(), where.string(), toml_string(where.string()), toml_string((where / "tokenizer").string()), llama ? "llama" : "gpt2", config.n_layer,
        config.d_model, config.n_head, config.n_kv_head, config.ffn_width(), config.max_seq_len,
        toml_number(config.norm_eps), toml_number(config.rope_theta), config.rope_interleaved, config.tie_embeddings,
        toml_number(config.init_std), config.scaled_residual_init,
        is_deepseek_v3(config) ? deepseek_model_toml(config) : std::string(), std::min<int64_t>(config.max_seq_len, 256));
    write_text(staging / "import.toml", toml);
  });
  ImportSummary summary;
  summary.checkpoint = run / "checkpoints" / checkpoint.filename();
  summary.architecture = is_deepseek_v3(config) ? "DeepseekV3ForCausalLM" : llama ? "LlamaForCausalLM" : "GPT2LMHeadModel";
  summary.tensors = static_cast<int64_t>(weights.size());
  return summary;
}

}  // namespace kiln::train
