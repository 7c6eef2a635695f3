// config.json of every model family's run folder, as `kiln eval`, `generate`,
// `detect`, `vit eval`, `mae …`, `finetune --from`, `navit eval` and `vlm eval|generate` read it.
#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "kiln/models/bert/bert_config_io.hpp"
#include "kiln/models/cpc/cpc_config_io.hpp"
#include "kiln/models/gpt/config_io.hpp"
#include "kiln/models/oadtr/detector_config_io.hpp"
#include "kiln/models/vision/vision_config_io.hpp"
#include "kiln/models/vit/vit_config_io.hpp"
#include "kiln/models/vlm/vlm_config_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json json =
      nlohmann::json::parse(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size, nullptr,
                            false);
  if (json.is_discarded()) return 0;
  using namespace kiln::models;
  kiln::fuzz::accept_or_reject([&] { gpt_config_from_json(json, "config.json"); });
  kiln::fuzz::accept_or_reject([&] { bert_config_from_json(json, "config.json"); });
  kiln::fuzz::accept_or_reject([&] { vit_config_from_json(json, "config.json"); });
  kiln::fuzz::accept_or_reject([&] { mae_config_from_json(json, "config.json"); });
  kiln::fuzz::accept_or_reject([&] { cpc_config_from_json(json, "config.json"); });
  kiln::fuzz::accept_or_reject([&] { oadtr_config_from_json(json, 64, 4, "config.json"); });
  kiln::fuzz::accept_or_reject([&] { gru_detector_config_from_json(json, 64, 4, "config.json"); });
  kiln::fuzz::accept_or_reject([&] { navit_config_from_json(json, "config.json"); });
  kiln::fuzz::accept_or_reject([&] { vlm_config_from_json(json, "config.json"); });
  return 0;
}
