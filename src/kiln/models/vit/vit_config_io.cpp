#include "kiln/models/vit/vit_config_io.hpp"

#include <algorithm>

#include "kiln/io/json_field.hpp"

namespace kiln::models {

namespace {
constexpr int64_t kMaxWidth = int64_t{1} << 16;

bool json_bool_or(const nlohmann::json& j, const std::string& key, bool fallback, const std::string& source) {
  return io::json_field_or(j, key, fallback, source + " (kiln block)");
}
}  // namespace

VitConfig read_vit_config(io::ConfigFile& f, bool sincos_default) {
  VitConfig v;
  v.image_size = f.get_int("model.image_size", 28, 1, 4096);
  v.channels = f.get_int("model.channels", 1, 1, 4);
  v.patch_size = f.get_int("model.patch_size", 4, 1, 1024);
  v.d_model = f.get_int("model.d_model", 64, 4, 1 << 14);
  v.n_layer = f.get_int("model.n_layer", 6, 1, 256);
  v.n_head = f.get_int("model.n_head", 4, 1, 256);
  v.mlp_dim = f.get_int("model.mlp_dim", 2 * v.d_model, 1, kMaxWidth);
  v.n_classes = f.get_int("model.n_classes", 10, 1, kMaxWidth);
  v.norm_eps = f.get_double("model.norm_eps", 1e-6, 1e-12, 1e-1);
  v.sincos_positions = f.get_bool("model.sincos_positions", sincos_default);
  v.mean_pool = f.get_bool("model.mean_pool", false);
  v.init_std = f.get_double("model.init_std", 0.02, 1e-6, 1);
  v.tome_r = f.get_ints("model.tome_r", {}, 0, 1 << 20, v.n_layer);
  KILN_CHECK(static_cast<int64_t>(v.tome_r.size()) <= v.n_layer, "{}: model.tome_r lists {} layers, the model has {}",
             f.source(), v.tome_r.size(), v.n_layer);
  return v;
}

MaeConfig read_mae_config(io::ConfigFile& f, const VitConfig& encoder) {
  MaeConfig m;
  m.encoder = encoder;
  m.decoder_dim = f.get_int("model.decoder_dim", 64, 4, 1 << 14);
  m.decoder_layers = f.get_int("model.decoder_layers", 2, 1, 64);
  m.decoder_heads = f.get_int("model.decoder_heads", 4, 1, 64);
  m.decoder_mlp = f.get_int("model.decoder_mlp", 2 * m.decoder_dim, 1, kMaxWidth);
  m.mask_ratio = f.get_double("model.mask_ratio", 0.75, 0, 0.99);
  m.norm_pix_loss = f.get_bool("model.norm_pix_loss", false);
  return m;
}

nlohmann::json vit_config_json(const VitConfig& v) {
  nlohmann::json j = {{"model_type", "vit"},         {"architectures", {"ViTForImageClassification"}},
                      {"image_size", v.image_size},  {"num_channels", v.channels},
                      {"patch_size", v.patch_size},  {"hidden_size", v.d_model},
                      {"num_hidden_layers", v.n_layer}, {"num_attention_heads", v.n_head},
                      {"intermediate_size", v.mlp_dim}, {"num_labels", v.n_classes},
                      {"layer_norm_eps", v.norm_eps}, {"hidden_act", "gelu"},
                      {"kiln", {{"sincos_positions", v.sincos_positions}, {"mean_pool", v.mean_pool}}}};
  // Written only when a block merges, so runs without ToMe keep their config.json.
  if (std::any_of(v.tome_r.begin(), v.tome_r.end(), [](int64_t r) { return r > 0; })) j["kiln"]["tome_r"] = v.tome_r;
  return j;
}

VitConfig vit_config_from_json(const nlohmann::json& j, const std::string& source) {
  VitConfig v;
  v.image_size = io::json_int(j, "image_size", 1, 4096, source);
  v.channels = io::json_int(j, "num_channels", 1, 4, source);
  v.patch_size = io::json_int(j, "patch_size", 1, 1024, source);
  v.d_model = io::json_int(j, "hidden_size", 4, 1 << 14, source);
  v.n_layer = io::json_int(j, "num_hidden_layers", 1, 256, source);
  v.n_head = io::json_int(j, "num_attention_heads", 1, 256, source);
  v.mlp_dim = io::json_int(j, "intermediate_size", 1, kMaxWidth, source);
  v.n_classes = j.contains("num_labels") ? io::json_int(j, "num_labels", 0, kMaxWidth, source) : 0;
  v.norm_eps = io::json_field<double>(j, "layer_norm_eps", source);
  KILN_CHECK(v.norm_eps > 0 && v.norm_eps < 1, "{}: layer_norm_eps must be in (0, 1), got {}", source, v.norm_eps);
  if (j.contains("kiln")) {
    const auto kiln = io::json_field<nlohmann::json>(j, "kiln", source);
    v.sincos_positions = json_bool_or(kiln, "sincos_positions", false, source);
    v.mean_pool = json_bool_or(kiln, "mean_pool", false, source);
    if (kiln.contains("tome_r")) {
      const auto r = io::json_field<nlohmann::json>(kiln, "tome_r", source + " (kiln block)");
      const bool valid = r.is_array() && r.size() <= static_cast<size_t>(v.n_layer) &&
                         std::all_of(r.begin(), r.end(), [](const nlohmann::json& e) {
                           return e.is_number_integer() && e.get<int64_t>() >= 0 && e.get<int64_t>() <= (1 << 20);
                         });
      KILN_CHECK(valid, "{}: kiln.tome_r must be an array of at most num_hidden_layers ({}) integers in [0, {}]",
                 source, v.n_layer, 1 << 20);
      for (const nlohmann::json& e : r) v.tome_r.push_back(e.get<int64_t>());
    }
  }
  v.validate();
  return v;
}

nlohmann::json mae_config_json(const MaeConfig& m) {
  nlohmann::json j = vit_config_json(m.encoder);
  j["model_type"] = "vit_mae";
  j["architectures"] = {"ViTMAEForPreTraining"};
  j["decoder_hidden_size"] = m.decoder_dim;
  j["decoder_num_hidden_layers"] = m.decoder_layers;
  j["decoder_num_attention_heads"] = m.decoder_heads;
  j["decoder_intermediate_size"] = m.decoder_mlp;
  j["mask_ratio"] = m.mask_ratio;
  j["norm_pix_loss"] = m.norm_pix_loss;
  return j;
}

MaeConfig mae_config_from_json(const nlohmann::json& j, const std::string& source) {
  KILN_CHECK(j.is_object() && io::json_field_or<std::string>(j, "model_type", "", source) == "vit_mae", "{}: not an MAE checkpoint", source);
  MaeConfig m;
  m.encoder = vit_config_from_json(j, source);
  m.decoder_dim = io::json_int(j, "decoder_hidden_size", 4, 1 << 14, source);
  m.decoder_layers = io::json_int(j, "decoder_num_hidden_layers", 1, 64, source);
  m.decoder_heads = io::json_int(j, "decoder_num_attention_heads", 1, 64, source);
  m.decoder_mlp = io::json_int(j, "decoder_intermediate_size", 1, kMaxWidth, source);
  m.mask_ratio = io::json_field<double>(j, "mask_ratio", source);
  m.norm_pix_loss = io::json_field<bool>(j, "norm_pix_loss", source);
  KILN_CHECK(m.mask_ratio >= 0 && m.mask_ratio < 1, "{}: mask_ratio must be in [0, 1), got {}", source, m.mask_ratio);
  m.validate();
  return m;
}

}  // namespace kiln::models
