#include "kiln/models/oadtr/detector_config_io.hpp"

#include "kiln/io/json_field.hpp"

namespace kiln::models {

namespace {
constexpr int64_t kWidth = int64_t{1} << 16;  // far beyond any detector this CPU could run
}  // namespace

OadtrConfig read_oadtr_config(io::ConfigFile& f, int64_t window) {
  OadtrConfig m;
  m.window = window;
  m.d_model = f.get_int("model.d_model", 128, 1, 8192);
  m.enc_layers = f.get_int("model.enc_layers", 3, 1, 64);
  m.enc_heads = f.get_int("model.enc_heads", 8, 1, 128);
  m.ffn_dim = f.get_int("model.ffn_dim", m.d_model, 1, kWidth);
  m.dec_layers = f.get_int("model.dec_layers", 5, 1, 64);
  m.dec_heads = f.get_int("model.dec_heads", 4, 1, 128);
  m.dec_ffn = f.get_int("model.dec_ffn", m.d_model, 1, kWidth);
  m.queries = f.get_int("model.queries", 8, 1, 1024);
  m.dropout = f.get_double("model.dropout", 0.1, 0, 0.99);
  m.future_weight = f.get_double("model.future_weight", 0.5, 0, 100);
  return m;
}

GruDetectorConfig read_gru_detector_config(io::ConfigFile& f, int64_t window) {
  GruDetectorConfig g;
  g.window = window;
  g.hidden = f.get_int("model.hidden", 128, 1, 1 << 14);
  return g;
}

nlohmann::json oadtr_config_json(const OadtrConfig& m) {
  return {{"feature_dim", m.feature_dim}, {"window", m.window},         {"d_model", m.d_model},
          {"enc_layers", m.enc_layers},   {"enc_heads", m.enc_heads},   {"ffn_dim", m.ffn_dim},
          {"dec_layers", m.dec_layers},   {"dec_heads", m.dec_heads},   {"dec_ffn", m.dec_ffn},
          {"queries", m.queries},         {"num_classes", m.classes},   {"dropout", m.dropout},
          {"future_weight", m.future_weight}};
}

nlohmann::json gru_detector_config_json(const GruDetectorConfig& g) {
  return {{"feature_dim", g.feature_dim}, {"window", g.window}, {"hidden", g.hidden}, {"num_classes", g.classes}};
}

OadtrConfig oadtr_config_from_json(const nlohmann::json& j, int64_t window, int64_t classes, const std::string& src) {
  OadtrConfig m;
  m.feature_dim = io::json_int(j, "feature_dim", 1, kWidth, src);
  m.window = window;
  m.d_model = io::json_int(j, "d_model", 1, kWidth, src);
  m.enc_layers = io::json_int(j, "enc_layers", 1, 256, src);
  m.enc_heads = io::json_int(j, "enc_heads", 1, 1024, src);
  m.ffn_dim = io::json_int(j, "ffn_dim", 1, kWidth, src);
  m.dec_layers = io::json_int(j, "dec_layers", 1, 256, src);
  m.dec_heads = io::json_int(j, "dec_heads", 1, 1024, src);
  m.dec_ffn = io::json_int(j, "dec_ffn", 1, kWidth, src);
  m.queries = io::json_int(j, "queries", 1, 1024, src);
  m.classes = classes;
  m.dropout = io::json_field<double>(j, "dropout", src);
  m.future_weight = io::json_field<double>(j, "future_weight", src);
  return m;
}

GruDetectorConfig gru_detector_config_from_json(const nlohmann::json& j, int64_t window, int64_t classes,
                                                const std::string& src) {
  GruDetectorConfig g;
  g.feature_dim = io::json_int(j, "feature_dim", 1, kWidth, src);
  g.window = window;
  g.hidden = io::json_int(j, "hidden", 1, kWidth, src);
  g.classes = classes;
  return g;
}

}  // namespace kiln::models
