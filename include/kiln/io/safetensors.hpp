#pragma once
// Hugging Face safetensors files: an 8-byte little-endian header length, a
// JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}},
// then the raw little-endian tensor bytes. Every field is validated before
// any byte is read, so a corrupt or truncated file is one kiln::Error.
#include <cstddef>
#include <filesystem>
#include <map>
#include <span>
#include <string>

#include "kiln/tensor/tensor.hpp"

namespace kiln::io {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

struct SafetensorsFile {
  TensorMap tensors;
  Metadata metadata;
};

SafetensorsFile parse_safetensors(std::span<const std::byte> bytes, const std::string& source_name);
SafetensorsFile load_safetensors(const std::filesystem::path& path);
// Written to a temporary file beside `path` and renamed into place.
void save_safetensors(const std::filesystem::path& path, const TensorMap& tensors, const Metadata& metadata = {});

}  // namespace kiln::io
