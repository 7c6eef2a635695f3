// A Hugging Face folder's config.json as `kiln import hf` reads it (LLaMA and
// GPT-2 fields, with or without kiln's own block), then the tensor mapping
// checked against that configuration with no tensors at all.
#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "kiln/train/interop.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json json =
      nlohmann::json::parse(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size, nullptr,
                            false);
  if (json.is_discarded()) return 0;
  kiln::fuzz::accept_or_reject([&] {
    const kiln::models::GptConfig config = kiln::train::gpt_config_from_hf_json(json, "config.json");
    kiln::train::kiln_tensors_from_hf(config, {}, "model.safetensors");
  });
  return 0;
}
