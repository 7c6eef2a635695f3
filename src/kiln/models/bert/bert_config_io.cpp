#include "kiln/models/bert/bert_config_io.hpp"

#include "kiln/io/json_field.hpp"

namespace kiln::models {

namespace {
constexpr int64_t kMaxWidth = int64_t{1} << 16;
constexpr int64_t kMaxVocab = int64_t{1} << 24;
}  // namespace

BertConfig read_bert_config(io::ConfigFile& f) {
  BertConfig m;
  m.d_model = f.get_int("model.d_model", 128, 4, 1 << 14);
  m.n_layer = f.get_int("model.n_layer", 4, 1, 256);
  m.n_head = f.get_int("model.n_head", 4, 1, 256);
  m.ffn_dim = f.get_int("model.ffn_dim", 4 * m.d_model, 1, kMaxWidth);
  m.max_positions = f.get_int("model.max_positions", 128, 2, kMaxWidth);
  m.dropout = f.get_double("model.dropout", 0.1, 0, 0.9);
  m.norm_eps = f.get_double("model.norm_eps", 1e-12, 1e-14, 1e-1);
  return m;
}

nlohmann::json bert_config_json(const BertConfig& m) {
  return {{"model_type", "bert"},
          {"architectures", {m.n_classes > 0 ? "BertForSequenceClassification" : "BertForMaskedLM"}},
          {"vocab_size", m.vocab_size},
          {"hidden_size", m.d_model},
          {"num_hidden_layers", m.n_layer},
          {"num_attention_heads", m.n_head},
          {"intermediate_size", m.ffn_dim},
          {"max_position_embeddings", m.max_positions},
          {"type_vocab_size", m.type_vocab},
          {"layer_norm_eps", m.norm_eps},
          {"hidden_dropout_prob", m.dropout},
          {"hidden_act", "gelu"},
          {"num_labels", m.n_classes}};
}

BertConfig bert_config_from_json(const nlohmann::json& j, const std::string& source) {
  KILN_CHECK(j.is_object() && io::json_field_or<std::string>(j, "model_type", "", source) == "bert", "{}: not a BERT config", source);
  BertConfig m;
  m.vocab_size = io::json_int(j, "vocab_size", 1, kMaxVocab, source);
  m.d_model = io::json_int(j, "hidden_size", 4, 1 << 14, source);
  m.n_layer = io::json_int(j, "num_hidden_layers", 1, 256, source);
  m.n_head = io::json_int(j, "num_attention_heads", 1, 256, source);
  m.ffn_dim = io::json_int(j, "intermediate_size", 1, kMaxWidth, source);
  m.max_positions = io::json_int(j, "max_position_embeddings", 2, kMaxWidth, source);
  m.type_vocab = io::json_int(j, "type_vocab_size", 1, 1 << 10, source);
  m.norm_eps = io::json_field<double>(j, "layer_norm_eps", source);
  m.dropout = j.contains("hidden_dropout_prob") ? io::json_field<double>(j, "hidden_dropout_prob", source) : 0.1;
  m.n_classes = j.contains("num_labels") ? io::json_int(j, "num_labels", 0, kMaxWidth, source) : 0;
  KILN_CHECK(m.norm_eps > 0 && m.norm_eps < 1, "{}: layer_norm_eps must be in (0, 1), got {}", source, m.norm_eps);
  KILN_CHECK(m.dropout >= 0 && m.dropout < 1, "{}: hidden_dropout_prob must be in [0, 1), got {}", source, m.dropout);
  m.validate();
  return m;
}

}  // namespace kiln::models
