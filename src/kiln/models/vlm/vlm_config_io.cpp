#include "kiln/models/vlm/vlm_config_io.hpp"

#include <cmath>

#include "kiln/base/error.hpp"
#include "kiln/base/printable.hpp"
#include "kiln/data/vlm_batch.hpp"
#include "kiln/io/json_field.hpp"
#include "kiln/models/gpt/config_io.hpp"
#include "kiln/models/vision/vision_config_io.hpp"

namespace kiln::models {

namespace {

std::array<int64_t, 3> read_section(io::ConfigFile& f, const std::array<int64_t, 3>& fallback) {
  const std::vector<double> values =
      f.get_doubles("model.mrope_section", {double(fallback[0]), double(fallback[1]), double(fallback[2])});
  KILN_CHECK(values.size() == 3, "model.mrope_section must list three sizes (t, h, w), got {}", values.size());
  std::array<int64_t, 3> section{};
  for (size_t i = 0; i < 3; ++i) {
    KILN_CHECK(values[i] >= 0 && values[i] <= 4096 && values[i] == std::floor(values[i]),
               "model.mrope_section must hold whole numbers from 0 to 4096, got {}", values[i]);
    section[i] = static_cast<int64_t>(values[i]);
  }
  return section;
}

}  // namespace

VlmConfig read_vlm_config(io::ConfigFile& f) {
  VlmConfig c;
  c.vision = read_vision_config(f);
  GptConfig& d = c.decoder;
  d = VlmConfig::default_decoder();
  f.get_string("model.arch", "vlm", {"vlm"});
  d.d_model = f.get_int("model.d_model", d.d_model, 1, 1 << 16);
  d.n_layer = f.get_int("model.n_layer", d.n_layer, 1, 1024);
  d.n_head = f.get_int("model.n_head", d.n_head, 1, 1024);
  d.n_kv_head = f.get_int("model.n_kv_head", d.n_head, 1, 1024);
  d.ffn_hidden = f.get_int("model.ffn_hidden", d.ffn_hidden, 1, 1 << 20);
  d.max_seq_len = f.get_int("model.max_seq_len", d.max_seq_len, 1, 1 << 20);
  d.norm_eps = f.get_double("model.norm_eps", d.norm_eps, 1e-12, 1e-1);
  d.rope_theta = f.get_double("model.rope_theta", d.rope_theta, 1, 1e9);
  d.mrope_section = read_section(f, d.mrope_section);
  d.mrope_interleaved = f.get_bool("model.mrope_interleaved", false);
  d.qkv_bias = f.get_bool("model.qkv_bias", false);
  d.init_std = f.get_double("model.init_std", d.init_std, 1e-6, 1.0);
  c.projector = parse_projector(
      f.get_string("model.projector", "merger", {"merger", "pixel_shuffle", "mlp2x_gelu", "linear"}));
  return c;
}

nlohmann::json vlm_config_json(const VlmConfig& c) {
  nlohmann::json json = gpt_config_json(c.decoder);
  json["architectures"] = {"KilnVlmForConditionalGeneration"};
  json["model_type"] = "kiln_vlm";
  json["rope_scaling"] = {{"type", "mrope"},
                          {"mrope_section", {c.decoder.mrope_section[0], c.decoder.mrope_section[1],
                                             c.decoder.mrope_section[2]}}};
  json["kiln"]["mrope_interleaved"] = c.decoder.mrope_interleaved;
  json["kiln"]["qkv_bias"] = c.decoder.qkv_bias;
  json["kiln"]["projector"] = projector_name(c.projector);
  json["vision_config"] = vision_config_json(c.vision);
  json["eos_token_id"] = data::VlmTokens::endoftext;
  json["pad_token_id"] = data::VlmTokens::endoftext;
  json["vision_start_token_id"] = data::VlmTokens::vision_start;
  json["vision_end_token_id"] = data::VlmTokens::vision_end;
  json["image_token_id"] = data::VlmTokens::image_pad;
  return json;
}

VlmConfig vlm_config_from_json(const nlohmann::json& json, const std::string& source) {
  KILN_CHECK(json.is_object(), "{}: expected a JSON object", source);
  const auto type = io::json_field<std::string>(json, "model_type", source);
  KILN_CHECK(type == "kiln_vlm", "{}: model_type '{}' is not a kiln vision-language model (kiln_vlm)", source,
             printable(type));
  nlohmann::json text = json;
  text["model_type"] = "llama";
  VlmConfig c;
  c.decoder = gpt_config_from_json(text, source);
  KILN_CHECK(json.contains("rope_scaling") && json["rope_scaling"].is_object(),
             "{}: rope_scaling with an mrope_section is missing", source);
  const nlohmann::json& scaling = json["rope_scaling"];
  KILN_CHECK(scaling.contains("mrope_section") && scaling["mrope_section"].is_array() &&
                 scaling["mrope_section"].size() == 3,
             "{}: rope_scaling.mrope_section must list three sizes", source);
  for (size_t i = 0; i < 3; ++i) {
    KILN_CHECK(scaling["mrope_section"][i].is_number_integer(), "{}: rope_scaling.mrope_section must hold integers",
               source);
    c.decoder.mrope_section[i] = scaling["mrope_section"][i].get<int64_t>();
  }
  const nlohmann::json kiln = json.value("kiln", nlohmann::json::object());
  c.decoder.mrope_interleaved = io::json_field_or(kiln, "mrope_interleaved", false, source);
  c.decoder.qkv_bias = io::json_field_or(kiln, "qkv_bias", false, source);
  c.projector = parse_projector(io::json_field_or<std::string>(kiln, "projector", "merger", source));
  KILN_CHECK(json.contains("vision_config"), "{}: vision_config is missing", source);
  c.vision = vision_config_from_json(json["vision_config"], source);
  try {
    c.validate();
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  }
  return c;
}

}  // namespace kiln::models
