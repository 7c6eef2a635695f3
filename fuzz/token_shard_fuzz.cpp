// Token shards of `kiln data prepare`, as `kiln train` maps them.
#include "fuzz_support.hpp"
#include "kiln/data/shard.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = kiln::fuzz::write_input(data, size, "train.bin");
  kiln::fuzz::accept_or_reject([&] {
    const kiln::data::TokenShard shard = kiln::data::TokenShard::open(path);
    shard.all_tokens();
  });
  return 0;
}
