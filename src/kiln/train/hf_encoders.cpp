#include "kiln/train/hf_encoders.hpp"

#include <fmt/format.h>

#include "kiln/base/error.hpp"
#include "kiln/data/wordpiece.hpp"
#include "kiln/io/json_file.hpp"
#include "kiln/io/json_field.hpp"
#include "kiln/models/bert/bert.hpp"
#include "kiln/models/bert/bert_config_io.hpp"
#include "kiln/models/mae/mae.hpp"
#include "kiln/models/vit/vit.hpp"
#include "kiln/models/vit/vit_config_io.hpp"
#include "kiln/train/model_folder.hpp"

namespace kiln::train {

namespace fs = std::filesystem;

namespace {

std::string model_type(const nlohmann::json& config) {
  return config.contains("model_type") && config["model_type"].is_string() ? config["model_type"].get<std::string>()
                                                                             : std::string();
}

std::string first_architecture(const nlohmann::json& config) {
  if (config.contains("architectures") && config["architectures"].is_array() && !config["architectures"].empty() &&
      config["architectures"][0].is_string())
    return config["architectures"][0].get<std::string>();
  return "(none)";
}

// ---- export -------------------------------------------------------------------

// {"0": "LABEL_0", …} unless the run named its classes.
nlohmann::json id2label(int64_t classes, const nlohmann::json& names) {
  nlohmann::json out = nlohmann::json::object();
  for (int64_t i = 0; i < classes; ++i) {
    const bool named = names.is_array() && static_cast<int64_t>(names.size()) == classes && names[i].is_string();
    out[std::to_string(i)] = named ? names[i].get<std::string>() : fmt::format("LABEL_{}", i);
  }
  return out;
}

nlohmann::json label2id(const nlohmann::json& labels) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [id, name] : labels.items()) out[name.get<std::string>()] = std::stoi(id);
  return out;
}

nlohmann::json bert_hf_config(const models::BertConfig& m, const nlohmann::json& kiln_block, int32_t pad_id) {
  nlohmann::json c = {
      {"architectures", {m.n_classes > 0 ? "BertForSequenceClassification" : "BertForMaskedLM"}},
      {"model_type", "bert"},
      {"vocab_size", m.vocab_size},
      {"hidden_size", m.d_model},
      {"num_hidden_layers", m.n_layer},
      {"num_attention_heads", m.n_head},
      {"intermediate_size", m.ffn_dim},
      {"hidden_act", "gelu"},
      {"hidden_dropout_prob", m.dropout},
      // kiln's fused attention never materialises the probabilities, so it drops none.
      {"attention_probs_dropout_prob", 0.0},
      {"max_position_embeddings", m.max_positions},
      {"type_vocab_size", m.type_vocab},
      {"initializer_range", m.init_std},
      {"layer_norm_eps", m.norm_eps},
      {"pad_token_id", pad_id >= 0 ? nlohmann::json(pad_id) : nlohmann::json(0)},
      {"position_embedding_type", "absolute"},
      {"use_cache", true},
      {"classifier_dropout", nullptr},
      {"tie_word_embeddings", true},
      {"torch_dtype", "float32"},
  };
  if (m.n_classes > 0) {
    c["num_labels"] = m.n_classes;
    c["id2label"] = id2label(m.n_classes, kiln_block.is_object() ? kiln_block.value("labels", nlohmann::json()) : nlohmann::json());
    c["label2id"] = label2id(c["id2label"]);
    c["problem_type"] = "single_label_classification";
  }
  if (kiln_block.is_object()) c["kiln"] = kiln_block;
  return c;
}

nlohmann::json vit_common_config(const models::VitConfig& v) {
  return {
      {"hidden_size", v.d_model},
      {"num_hidden_layers", v.n_layer},
      {"num_attention_heads", v.n_head},
      {"intermediate_size", v.mlp_dim},
      {"hidden_act", "gelu"},
      {"hidden_dropout_prob", 0.0},
      {"attention_probs_dropout_prob", 0.0},
      {"initializer_range", v.init_std},
      {"layer_norm_eps", v.norm_eps},
      {"image_size", v.image_size},
      {"patch_size", v.patch_size},
      {"num_channels", v.channels},
      {"qkv_bias", true},
      {"torch_dtype", "float32"},
  };
}

nlohmann::json image_processor(const models::VitConfig& v, const PixelNormalisation& pixels) {
  const std::vector<double> mean(static_cast<size_t>(v.channels), pixels.mean), std(static_cast<size_t>(v.channels), pixels.std);
  return {{"image_processor_type", "ViTImageProcessor"},
          {"do_resize", true},
          {"size", {{"height", v.image_size}, {"width", v.image_size}}},
          {"resample", 2},
          {"do_rescale", true},
          {"rescale_factor", 1.0 / 255.0},
          {"do_normalize", true},
          {"image_mean", mean},
          {"image_std", std}};
}

void write_bert_tokenizer_files(const fs::path& staging, const fs::path& vocab) {
  fs::copy_file(vocab, staging / "vocab.txt");
  const nlohmann::json special = {{"unk_token", "[UNK]"},   {"sep_token", "[SEP]"}, {"pad_token", "[PAD]"},
                                  {"cls_token", "[CLS]"},   {"mask_token", "[MASK]"}};
  nlohmann::json config = special;
  config["tokenizer_class"] = "BertTokenizer";
  config["do_lower_case"] = true;  // kiln's WordPiece lowercases and strips accents (BERT uncased)
  config["tokenize_chinese_chars"] = true;
  config["strip_accents"] = nullptr;
  config["clean_up_tokenization_spaces"] = true;
  io::write_json_file(staging / "tokenizer_config.json", config);
  io::write_json_file(staging / "special_tokens_map.json", special);
}

}  // namespace

std::optional<fs::path> encoder_model_folder(const fs::path& run) {
  for (const fs::path& dir : {run, run / "model"}) {
    if (!fs::exists(dir / "config.json") || fs::exists(dir / "trainer_state.json")) continue;
    const std::string type = model_type(io::read_json_object(dir / "config.json"));
    if (type == "bert" || type == "vit" || type == "vit_mae") return dir;
  }
  return std::nullopt;
}

ExportSummary export_hf_encoder(const fs::path& model_folder, const fs::path& output, const PixelNormalisation& pixels) {
  ModelFolder folder = load_model_folder(model_folder, "a kiln BERT, ViT or MAE run");
  const std::string type = model_type(folder.config);
  const std::string source = (folder.dir / "config.json").string();
  ExportSummary summary;
  summary.checkpoint = folder.dir;
  summary.output = output;
  io::TensorMap tensors;
  nlohmann::json config, preprocessor;
  if (type == "bert") {
    const models::BertConfig m = models::bert_config_from_json(folder.config, source);
    models::BertModel model(m, 0);
    model.load_parameters(folder.weights);  // names and shapes checked
    tensors = model.parameters();
    const fs::path vocab = folder.dir / "vocab.txt";
    KILN_CHECK(fs::exists(vocab), "{}: no vocab.txt beside the model", folder.dir.string());
    const data::WordPieceTokenizer tokenizer = data::WordPieceTokenizer::load(vocab);
    config = bert_hf_config(m, folder.config.value("kiln", nlohmann::json()), tokenizer.find("[PAD]").value_or(-1));
    write_folder_staged(output, [&](const fs::path& staging) {
      io::save_safetensors(staging / "model.safetensors", tensors, {{"format", "pt"}});
      io::write_json_file(staging / "config.json", config);
      write_bert_tokenizer_files(staging, vocab);
    });
    summary.tokenizer = "WordPiece vocab.txt";
    summary.layout = "names and [out, in] layout as they are; MLM decoder tied to the word embeddings";
  } else if (type == "vit") {
    const models::VitConfig v = models::vit_config_from_json(folder.config, source);
    KILN_CHECK(!v.mean_pool, "{}: this ViT classifies the mean of its patch tokens; ViTForImageClassification "
               "classifies the [CLS] token", source);
    KILN_CHECK(v.n_classes > 0, "{}: a ViT without a classifier; export its MAE run as ViTMAEForPreTraining", source);
    models::VitModel model(v, 0);
    model.load_parameters(folder.weights);
    tensors = model.parameters();
    if (v.sincos_positions)
      tensors["vit.embeddings.position_embeddings"] =
          models::sincos_position_table(v.d_model, v.grid()).reshape({1, v.patches() + 1, v.d_model});
    config = vit_common_config(v);
    config["architectures"] = {"ViTForImageClassification"};
    config["model_type"] = "vit";
    config["encoder_stride"] = v.patch_size;
    config["num_labels"] = v.n_classes;
    config["id2label"] = id2label(v.n_classes, nullptr);
    config["label2id"] = label2id(config["id2label"]);
    config["kiln"] = {{"sincos_positions", v.sincos_positions}, {"mean_pool", false}};
    preprocessor = image_processor(v, pixels);
    summary.layout = v.sincos_positions ? "the fixed sin-cos position table written as position_embeddings"
                                        : "names and layout as they are";
  } else {
    KILN_CHECK(type == "vit_mae", "{}: model_type '{}' is not a kiln encoder", source, type);
    const models::MaeConfig m = models::mae_config_from_json(folder.config, source);
    models::MaeModel model(m, 0);
    model.load_parameters(folder.weights);
    tensors = model.parameters();
    const models::VitConfig& e = m.encoder;
    tensors["vit.embeddings.position_embeddings"] =
        models::sincos_position_table(e.d_model, e.grid()).reshape({1, e.patches() + 1, e.d_model});
    tensors["decoder.decoder_pos_embed"] =
        models::sincos_position_table(m.decoder_dim, e.grid()).reshape({1, e.patches() + 1, m.decoder_dim});
    config = vit_common_config(e);
    config["architectures"] = {"ViTMAEForPreTraining"};
    config["model_type"] = "vit_mae";
    config["decoder_hidden_size"] = m.decoder_dim;
    config["decoder_num_hidden_layers"] = m.decoder_layers;
    config["decoder_num_attention_heads"] = m.decoder_heads;
    config["decoder_intermediate_size"] = m.decoder_mlp;
    config["mask_ratio"] = m.mask_ratio;
    config["norm_pix_loss"] = m.norm_pix_loss;
    config["kiln"] = {{"sincos_positions", true}, {"mean_pool", false}};
    preprocessor = image_processor(e, pixels);
    summary.layout = "both fixed sin-cos position tables written (encoder and decoder)";
  }
  if (type != "bert")
    write_folder_staged(output, [&](const fs::path& staging) {
      io::save_safetensors(staging / "model.safetensors", tensors, {{"format", "pt"}});
      io::write_json_file(staging / "config.json", config);
      io::write_json_file(staging / "preprocessor_config.json", preprocessor);
    });
  if (type != "bert") summary.tokenizer = "preprocessor_config.json";
  summary.architecture = config["architectures"][0].get<std::string>();
  summary.tensors = static_cast<int64_t>(tensors.size());
  return summary;
}

// ---- import -------------------------------------------------------------------

namespace {

// transformers' older BERT files name LayerNorm parameters gamma and beta.
std::string modern_name(std::string name) {
  for (const auto& [old_suffix, suffix] : {std::pair<std::string, std::string>{"LayerNorm.gamma", "LayerNorm.weight"},
                                           {"LayerNorm.beta", "LayerNorm.bias"}})
    if (name.ends_with(old_suffix)) name.replace(name.size() - old_suffix.size(), std::string::npos, suffix);
  return name;
}

bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to(DType::f32).contiguous().to_vector<float>() == b.to(DType::f32).contiguous().to_vector<float>();
}

// The folder's tensors onto `expected` (kiln's parameters with their shapes):
// f32/bf16/f64 accepted, every missing one either in `may_initialise` (kept
// from `expected`, reported) or an error naming it.
io::TensorMap match_tensors(const io::TensorMap& given, const std::map<std::string, Tensor>& expected,
                            const std::vector<std::string>& may_initialise, const std::string& source,
                            std::vector<std::string>& initialised) {
  io::TensorMap out;
  for (const auto& [name, shape_of] : expected) {
    const auto it = given.find(name);
    if (it == given.end()) {
      bool optional = false;
      for (const std::string& prefix : may_initialise) optional = optional || name.starts_with(prefix);
      KILN_CHECK(optional, "{}: missing tensor '{}'", source, name);
      out[name] = shape_of.clone();
      initialised.push_back(name);
      continue;
    }
    const Tensor& t = it->second;
    KILN_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::bf16 || t.dtype() == DType::f64,
               "{}: tensor '{}' is {}; kiln imports f32, bf16 or f64 weights", source, name, dtype_name(t.dtype()));
    KILN_CHECK(t.shape() == shape_of.shape(), "{}: tensor '{}' is {}, config.json needs {}", source, name, t.describe(),
               to_string(shape_of.shape()));
    out[name] = t.to(DType::f32).contiguous().clone();
  }
  return out;
}

ImportSummary import_bert(const fs::path& folder, const nlohmann::json& json, const fs::path& run) {
  const std::string source = (folder / "config.json").string();
  const std::string architecture = first_architecture(json);
  KILN_CHECK(architecture == "BertForMaskedLM" || architecture == "BertForSequenceClassification" ||
                 architecture == "BertForPreTraining",
             "{}: architecture '{}' is not a BERT kiln imports (BertForMaskedLM, BertForSequenceClassification, "
             "BertForPreTraining)",
             source, architecture);
  const auto act = io::json_field_or<std::string>(json, "hidden_act", "gelu", source);
  KILN_CHECK(act == "gelu", "{}: field 'hidden_act' is '{}'; kiln computes only the erf GELU (gelu)", source, act);
  const auto positions = io::json_field_or<std::string>(json, "position_embedding_type", "absolute", source);
  KILN_CHECK(positions == "absolute", "{}: field 'position_embedding_type' is '{}'; kiln computes only absolute",
             source, positions);
  nlohmann::json kiln_view = json;
  const bool classifier = architecture == "BertForSequenceClassification";
  if (!classifier) kiln_view["num_labels"] = 0;
  else if (!kiln_view.contains("num_labels") && json.contains("id2label") && json["id2label"].is_object())
    kiln_view["num_labels"] = json["id2label"].size();
  const models::BertConfig m = models::bert_config_from_json(kiln_view, source);

  const fs::path vocab = folder / "vocab.txt";
  KILN_CHECK(fs::exists(vocab), "{}: no vocab.txt (kiln imports BERT's WordPiece vocabulary)", folder.string());
  const data::WordPieceTokenizer tokenizer = data::WordPieceTokenizer::load(vocab);
  KILN_CHECK(static_cast<int64_t>(tokenizer.vocab().size()) == m.vocab_size,
             "{}: config.json has vocab_size {} but vocab.txt has {} tokens; kiln needs them equal", folder.string(),
             m.vocab_size, tokenizer.vocab().size());

  io::TensorMap given;
  const io::TensorMap raw = io::load_safetensors(folder / "model.safetensors").tensors;
  for (const auto& [name, t] : raw) given[modern_name(name)] = t;
  const models::BertModel fresh(m, 0);
  // Tied copies must equal what kiln ties them to; the NSP head and position ids are not kiln's.
  for (const auto& [copy, original] : {std::pair<std::string, std::string>{"cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight"},
                                       {"cls.predictions.decoder.bias", "cls.predictions.bias"}}) {
    const auto it = given.find(copy);
    if (it == given.end()) continue;
    KILN_CHECK(given.count(original) != 0 && same_values(it->second, given.at(original)),
               "{}: tensor '{}' differs from '{}'; kiln ties them", source, copy, original);
    given.erase(copy);
  }
  for (auto it = given.begin(); it != given.end();) {
    if (it->first.starts_with("cls.seq_relationship.") || it->first == "bert.embeddings.position_ids") it = given.erase(it);
    else ++it;
  }
  for (const auto& [name, t] : given)
    KILN_CHECK(fresh.parameters().count(name) != 0, "{}: unexpected tensor '{}' for {} with this config.json", source,
               name, architecture);
  ImportSummary summary;
  const io::TensorMap weights = match_tensors(given, fresh.parameters(), {"bert.pooler.", "cls.predictions."},
                                              source, summary.initialised);
  nlohmann::json config = models::bert_config_json(m);
  if (classifier && json.contains("id2label") && json["id2label"].is_object()) {
    nlohmann::json labels = nlohmann::json::array();
    for (int64_t i = 0; i < m.n_classes; ++i) labels.push_back(json["id2label"].value(std::to_string(i), fmt::format("LABEL_{}", i)));
    config["kiln"] = {{"labels", labels}};
  }
  KILN_CHECK(!fs::exists(run), "{}: already exists; import writes a new run folder", run.string());
  write_folder_staged(run, [&](const fs::path& staging) {
    save_model_folder(staging / "model", config, weights, [&](const fs::path& model_staging) {
      data::write_wordpiece_vocab(model_staging / "vocab.txt", tokenizer.vocab());
    });
  });
  summary.checkpoint = run / "model";
  summary.architecture = architecture;
  summary.tensors = static_cast<int64_t>(weights.size());
  return summary;
}

ImportSummary import_vit(const fs::path& folder, const nlohmann::json& json, const fs::path& run) {
  const std::string source = (folder / "config.json").string();
  const std::string architecture = first_architecture(json);
  KILN_CHECK(architecture == "ViTForImageClassification",
             "{}: architecture '{}' is not a ViT kiln imports (ViTForImageClassification)", source, architecture);
  const auto act = io::json_field_or<std::string>(json, "hidden_act", "gelu", source);
  KILN_CHECK(act == "gelu", "{}: field 'hidden_act' is '{}'; kiln computes only the erf GELU (gelu)", source, act);
  KILN_CHECK(io::json_field_or(json, "qkv_bias", true, source), "{}: field 'qkv_bias' is false; kiln's attention has "
             "query/key/value biases", source);
  KILN_CHECK(!json.contains("image_size") || json["image_size"].is_number_integer(),
             "{}: field 'image_size' must be one integer (kiln's images are square), got {}", source,
             json.value("image_size", nlohmann::json()).dump().substr(0, 40));
  nlohmann::json kiln_view = json;
  if (!kiln_view.contains("num_labels") && json.contains("id2label") && json["id2label"].is_object())
    kiln_view["num_labels"] = json["id2label"].size();
  const models::VitConfig v = models::vit_config_from_json(kiln_view, source);
  KILN_CHECK(v.n_classes > 0, "{}: no num_labels (or id2label); ViTForImageClassification needs classes", source);
  KILN_CHECK(!v.mean_pool, "{}: the kiln block asks for mean pooling, which ViTForImageClassification does not do", source);

  io::TensorMap given = io::load_safetensors(folder / "model.safetensors").tensors;
  const models::VitModel fresh(v, 0);
  if (v.sincos_positions) {
    // kiln's fixed table is no parameter: the file's copy must be that table.
    const auto it = given.find("vit.embeddings.position_embeddings");
    const Tensor table = models::sincos_position_table(v.d_model, v.grid()).reshape({1, v.patches() + 1, v.d_model});
    KILN_CHECK(it != given.end() && same_values(it->second, table),
               "{}: the kiln block says fixed sin-cos positions but 'vit.embeddings.position_embeddings' is not that "
               "table", source);
    given.erase(it);
  }
  for (const auto& [name, t] : given)
    KILN_CHECK(fresh.parameters().count(name) != 0, "{}: unexpected tensor '{}' for {} with this config.json", source,
               name, architecture);
  ImportSummary summary;
  const io::TensorMap weights = match_tensors(given, fresh.parameters(), {}, source, summary.initialised);
  KILN_CHECK(!fs::exists(run), "{}: already exists; import writes a new run folder", run.string());
  write_folder_staged(run, [&](const fs::path& staging) {
    save_model_folder(staging / "model", models::vit_config_json(v), weights);
  });
  summary.checkpoint = run / "model";
  summary.architecture = architecture;
  summary.tensors = static_cast<int64_t>(weights.size());
  return summary;
}

}  // namespace

bool is_encoder_config(const nlohmann::json& config) {
  const std::string type = model_type(config);
  return type == "bert" || type == "vit" || type == "vit_mae";
}

ImportSummary import_hf_encoder(const fs::path& folder, const nlohmann::json& config, const fs::path& run) {
  const std::string type = model_type(config);
  KILN_CHECK(type != "vit_mae", "{}: ViTMAEForPreTraining is exported by kiln, not imported (import a "
             "ViTForImageClassification)", (folder / "config.json").string());
  KILN_CHECK(fs::exists(folder / "model.safetensors"), "{}: no model.safetensors; kiln reads safetensors only",
             folder.string());
  return type == "bert" ? import_bert(folder, config, run) : import_vit(folder, config, run);
}

}  // namespace kiln::train
