// safetensors files as kiln loads them (model.safetensors, trainer_state).
#include "fuzz_support.hpp"
#include "kiln/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = kiln::fuzz::write_input(data, size, "model.safetensors");
  kiln::fuzz::accept_or_reject([&] {
    const kiln::io::SafetensorsFile file = kiln::io::load_safetensors(path);
    double sum = 0;  // every byte a tensor claims must be readable
    for (const auto& [name, tensor] : file.tensors)
      for (const float v : tensor.to(kiln::DType::f32).contiguous().to_vector<float>()) sum += v;
    (void)sum;
  });
  return 0;
}
