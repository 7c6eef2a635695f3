#include "kiln/models/vision/vision_config_io.hpp"

#include <cmath>

#include "kiln/io/json_field.hpp"

namespace kiln::models {

namespace {
constexpr int64_t kMaxWidth = int64_t{1} << 16;
}  // namespace

VisionConfig read_vision_config(io::ConfigFile& f) {
  VisionConfig v;
  v.patch_size = f.get_int("vision.patch_size", 4, 1, 1024);
  v.merge_size = f.get_int("vision.merge_size", 2, 1, 16);
  v.channels = f.get_int("vision.channels", 1, 1, 4);
  v.d_model = f.get_int("vision.d_model", 64, 4, 1 << 14);
  v.n_layer = f.get_int("vision.n_layer", 4, 1, 256);
  v.n_head = f.get_int("vision.n_head", 4, 1, 256);
  v.mlp_dim = f.get_int("vision.mlp_dim", 2 * v.d_model, 1, kMaxWidth);
  v.positions = parse_vision_positions(
      f.get_string("vision.positions", "rope2d", {"rope2d", "factorized", "factorized_fractional", "learned"}));
  v.hidden_act = parse_vision_activation(f.get_string("vision.hidden_act", "gelu", {"gelu", "quick_gelu"}));
  v.norm_eps = f.get_double("vision.norm_eps", 1e-6, 1e-12, 1e-1);
  v.rope_theta = f.get_double("vision.rope_theta", 10000, 2, 1e9);
  v.max_rows = f.get_int("vision.max_rows", 16, 1, 4096);
  v.max_cols = f.get_int("vision.max_cols", 16, 1, 4096);
  v.init_std = f.get_double("vision.init_std", 0.02, 1e-6, 1);
  v.window = f.get_int("vision.window", 0, 0, 4096);
  v.full_attention_layers = f.get_ints("vision.full_attention_layers", {}, 0, 1 << 16, 1);
  v.validate();
  return v;
}

NavitConfig read_navit_config(io::ConfigFile& f) {
  NavitConfig n;
  f.get_string("model.arch", "navit", {"navit"});
  n.vision = read_vision_config(f);
  n.n_classes = f.get_int("model.n_classes", 10, 1, kMaxWidth);
  n.validate();
  return n;
}

nlohmann::json vision_config_json(const VisionConfig& v) {
  return {{"depth", v.n_layer},
          {"embed_dim", v.d_model},
          {"num_heads", v.n_head},
          {"mlp_ratio", static_cast<double>(v.mlp_dim) / static_cast<double>(v.d_model)},
          {"in_channels", v.channels},
          {"patch_size", v.patch_size},
          {"spatial_merge_size", v.merge_size},
          {"temporal_patch_size", 1},
          {"hidden_act", vision_activation_name(v.hidden_act)},
          {"window_size", v.window * v.patch_size},  // Qwen2.5-VL's names: pixels, and the full layers
          {"fullatt_block_indexes", v.full_attention_layers},
          {"kiln",
           {{"positions", vision_positions_name(v.positions)},
            {"intermediate_size", v.mlp_dim},
            {"layer_norm_eps", v.norm_eps},
            {"rope_theta", v.rope_theta},
            {"max_rows", v.max_rows},
            {"max_cols", v.max_cols}}}};
}

VisionConfig vision_config_from_json(const nlohmann::json& j, const std::string& source) {
  VisionConfig v;
  v.n_layer = io::json_int(j, "depth", 1, 256, source);
  v.d_model = io::json_int(j, "embed_dim", 4, 1 << 14, source);
  v.n_head = io::json_int(j, "num_heads", 1, 256, source);
  v.channels = io::json_int(j, "in_channels", 1, 4, source);
  v.patch_size = io::json_int(j, "patch_size", 1, 1024, source);
  v.merge_size = io::json_int(j, "spatial_merge_size", 1, 16, source);
  KILN_CHECK(io::json_int(j, "temporal_patch_size", 1, 2, source) == 1,
             "{}: temporal_patch_size must be 1 (kiln's encoder takes still images)", source);
  v.hidden_act = parse_vision_activation(io::json_field<std::string>(j, "hidden_act", source));
  const auto kiln = io::json_field<nlohmann::json>(j, "kiln", source + " (vision_config)");
  const std::string block = source + " (vision_config.kiln)";
  v.positions = parse_vision_positions(io::json_field<std::string>(kiln, "positions", block));
  v.mlp_dim = io::json_int(kiln, "intermediate_size", 1, kMaxWidth, block);
  const auto ratio = io::json_field<double>(j, "mlp_ratio", source);
  KILN_CHECK(std::abs(ratio * static_cast<double>(v.d_model) - static_cast<double>(v.mlp_dim)) < 1e-6,
             "{}: mlp_ratio {} does not give kiln.intermediate_size {}", source, ratio, v.mlp_dim);
  v.norm_eps = io::json_field<double>(kiln, "layer_norm_eps", block);
  v.rope_theta = io::json_field<double>(kiln, "rope_theta", block);
  v.max_rows = io::json_int(kiln, "max_rows", 1, 4096, block);
  v.max_cols = io::json_int(kiln, "max_cols", 1, 4096, block);
  if (j.contains("window_size")) {  // absent in folders written before window attention
    const int64_t pixels = io::json_int(j, "window_size", 0, 1 << 20, source);
    KILN_CHECK(pixels % v.patch_size == 0, "{}: window_size {} px is not a whole number of {}-px patches", source,
               pixels, v.patch_size);
    v.window = pixels / v.patch_size;
    v.full_attention_layers = io::json_field<std::vector<int64_t>>(j, "fullatt_block_indexes", source);
  }
  KILN_CHECK(v.norm_eps > 0 && v.norm_eps < 1, "{}: layer_norm_eps must be in (0, 1), got {}", block, v.norm_eps);
  v.validate();
  return v;
}

nlohmann::json navit_config_json(const NavitConfig& n) {
  return {{"model_type", "kiln_navit"},
          {"architectures", {"KilnNavitForImageClassification"}},
          {"num_labels", n.n_classes},
          {"vision_config", vision_config_json(n.vision)}};
}

NavitConfig navit_config_from_json(const nlohmann::json& j, const std::string& source) {
  KILN_CHECK(j.is_object() && io::json_field_or<std::string>(j, "model_type", "", source) == "kiln_navit",
             "{}: not a kiln NaViT checkpoint (model_type must be kiln_navit)", source);
  NavitConfig n;
  n.n_classes = io::json_int(j, "num_labels", 1, kMaxWidth, source);
  n.vision = vision_config_from_json(io::json_field<nlohmann::json>(j, "vision_config", source), source);
  n.validate();
  return n;
}

}  // namespace kiln::models
