#include "kiln/models/cpc/cpc_config_io.hpp"

#include "kiln/base/printable.hpp"
#include "kiln/data/wav.hpp"
#include "kiln/io/json_field.hpp"

namespace kiln::models {

CpcConfig read_cpc_config(io::ConfigFile& f) {
  CpcConfig c;
  c.channels = f.get_int("model.channels", 128, 1, 4096);
  c.context = f.get_int("model.context", 128, 1, 4096);
  c.steps = f.get_int("model.steps", 12, 1, 64);
  c.negatives = f.get_int("model.negatives", 64, 1, 4096);
  c.sampling = f.get_string("model.negative_sampling", "batch", {"batch", "same_sequence"}) == "batch"
                   ? CpcNegatives::batch
                   : CpcNegatives::same_sequence;
  c.exclude_positives = f.get_bool("model.exclude_positives", true);
  c.channel_norm = f.get_bool("model.channel_norm", true);
  c.mean_score = f.get_bool("model.mean_score", true);
  return c;
}

nlohmann::json cpc_config_json(const CpcConfig& c, int64_t window) {
  return {{"model_type", "cpc"},
          {"channels", c.channels},
          {"context", c.context},
          {"prediction_steps", c.steps},
          {"negatives", c.negatives},
          {"negative_sampling", c.sampling == CpcNegatives::batch ? "batch" : "same_sequence"},
          {"exclude_positives", c.exclude_positives},
          {"channel_norm", c.channel_norm},
          {"mean_score", c.mean_score},
          {"kernels", kCpcKernels},
          {"strides", kCpcStrides},
          {"paddings", kCpcPaddings},
          {"sample_rate", data::kSpeechSampleRate},
          {"window", window}};
}

CpcConfig cpc_config_from_json(const nlohmann::json& j, const std::string& source) {
  const auto type = io::json_field_or<std::string>(j, "model_type", "", source);
  KILN_CHECK(type == "cpc", "{}: not a CPC model (model_type '{}')", source, printable(type));
  CpcConfig c;
  c.channels = io::json_int(j, "channels", 1, 4096, source);
  c.context = io::json_int(j, "context", 1, 4096, source);
  c.steps = io::json_int(j, "prediction_steps", 1, 64, source);
  c.negatives = io::json_int(j, "negatives", 1, 4096, source);
  const auto sampling = io::json_field<std::string>(j, "negative_sampling", source);
  KILN_CHECK(sampling == "batch" || sampling == "same_sequence",
             "{}: negative_sampling must be batch or same_sequence, got '{}'", source, printable(sampling));
  c.sampling = sampling == "batch" ? CpcNegatives::batch : CpcNegatives::same_sequence;
  c.exclude_positives = io::json_field<bool>(j, "exclude_positives", source);
  c.channel_norm = io::json_field<bool>(j, "channel_norm", source);
  c.mean_score = io::json_field<bool>(j, "mean_score", source);
  c.validate();
  return c;
}

}  // namespace kiln::models
