// TOML run configurations and --set overrides, read by every family's reader.
#include <string>

#include "fuzz_support.hpp"
#include "kiln/io/config_file.hpp"
#include "kiln/models/bert/bert_config_io.hpp"
#include "kiln/models/cpc/cpc_config_io.hpp"
#include "kiln/models/oadtr/detector_config_io.hpp"
#include "kiln/models/vit/vit_config_io.hpp"
#include "kiln/train/run_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  using namespace kiln;
  const auto with_config = [&](auto&& read) {
    fuzz::accept_or_reject([&] {
      io::ConfigFile file = io::ConfigFile::parse(text, "fuzz.toml");
      read(file);
    });
  };
  with_config([](io::ConfigFile& f) { train::read_run_config(f); });
  with_config([](io::ConfigFile& f) { models::read_bert_config(f).validate(); });
  with_config([](io::ConfigFile& f) { models::read_mae_config(f, models::read_vit_config(f, true)).validate(); });
  with_config([](io::ConfigFile& f) { models::read_cpc_config(f).validate(); });
  with_config([](io::ConfigFile& f) { models::read_oadtr_config(f, 64); });
  // The same text as a --set override.
  fuzz::accept_or_reject([&] {
    io::ConfigFile file;
    file.apply_override(text);
    train::read_run_config(file);
  });
  return 0;
}
