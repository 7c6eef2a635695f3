#include "kiln/io/safetensors.hpp"

#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/io/atomic_file.hpp"

namespace kiln::io {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the format's own limit

DType dtype_from_code(const std::string& code, const std::string& source, const std::string& name) {
  if (code == "F32") return DType::f32;
  if (code == "F64") return DType::f64;
  if (code == "BF16") return DType::bf16;
  if (code == "I32") return DType::i32;
  if (code == "I64") return DType::i64;
  if (code == "U8") return DType::u8;
  fail("{}: tensor '{}' has unsupported dtype '{}'", source, name, code);
}

std::string code_of(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::bf16: return "BF16";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  fail("safetensors: unknown dtype");
}

Tensor read_entry(const std::string& name, const nlohmann::json& entry, std::span<const std::byte> data,
                  const std::string& source) {
  KILN_CHECK(entry.is_object() && entry.contains("dtype") && entry.contains("shape") && entry.contains("data_offsets"),
             "{}: tensor '{}' needs dtype, shape and data_offsets", source, name);
  KILN_CHECK(entry["dtype"].is_string(), "{}: tensor '{}' has a non-string dtype", source, name);
  const DType dtype = dtype_from_code(entry["dtype"].get<std::string>(), source, name);
  const auto& shape_json = entry["shape"];
  KILN_CHECK(shape_json.is_array(), "{}: tensor '{}' has a non-array shape", source, name);
  Shape shape;
  uint64_t count = 1;
  for (const auto& d : shape_json) {
    KILN_CHECK(d.is_number_unsigned(), "{}: tensor '{}' has a negative or non-integer dimension", source, name);
    const uint64_t size = d.get<uint64_t>();
    KILN_CHECK(size == 0 || count <= std::numeric_limits<uint64_t>::max() / 8 / size,
               "{}: tensor '{}' shape overflows", source, name);
    count *= size;
    shape.push_back(static_cast<int64_t>(size));
  }
  const auto& offsets = entry["data_offsets"];
  KILN_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                 offsets[1].is_number_unsigned(),
             "{}: tensor '{}' has malformed data_offsets", source, name);
  const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
  KILN_CHECK(begin <= end && end <= data.size(), "{}: tensor '{}' data [{}, {}) lies outside the {} data bytes",
             source, name, begin, end, data.size());
  KILN_CHECK(end - begin == count * dtype_size(dtype), "{}: tensor '{}' of shape {} {} needs {} bytes, offsets give {}",
             source, name, dtype_name(dtype), to_string(shape), count * dtype_size(dtype), end - begin);
  Tensor t = Tensor::empty(shape, dtype);
  if (end > begin) std::memcpy(t.raw_data(), data.data() + begin, end - begin);
  return t;
}

}  // namespace

SafetensorsFile parse_safetensors(std::span<const std::byte> bytes, const std::string& source) {
  KILN_CHECK(bytes.size() >= 8, "{}: too short for a safetensors file ({} bytes)", source, bytes.size());
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);
  KILN_CHECK(header_size <= kMaxHeaderBytes && header_size <= bytes.size() - 8,
             "{}: header length {} does not fit in the file ({} bytes)", source, header_size, bytes.size());
  const auto* header_begin = reinterpret_cast<const char*>(bytes.data() + 8);
  nlohmann::json header = nlohmann::json::parse(header_begin, header_begin + header_size, nullptr, false);
  KILN_CHECK(!header.is_discarded() && header.is_object(), "{}: header is not a JSON object", source);
  const std::span<const std::byte> data = bytes.subspan(8 + header_size);
  SafetensorsFile file;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      KILN_CHECK(it.value().is_object(), "{}: __metadata__ is not an object", source);
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        KILN_CHECK(m.value().is_string(), "{}: metadata '{}' is not a string", source, m.key());
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    file.tensors[it.key()] = read_entry(it.key(), it.value(), data, source);
    ranges.emplace_back(it.value()["data_offsets"][0].get<uint64_t>(), it.value()["data_offsets"][1].get<uint64_t>());
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    KILN_CHECK(ranges[i].first >= ranges[i - 1].second, "{}: tensor data ranges overlap", source);
  return file;
}

SafetensorsFile load_safetensors(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "{}: cannot open", path.string());
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  KILN_CHECK(!in.bad(), "{}: read failed", path.string());
  return parse_safetensors(std::as_bytes(std::span<const char>(raw)), path.string());
}

void save_safetensors(const std::filesystem::path& path, const TensorMap& tensors, const Metadata& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::vector<Tensor> contiguous;
  for (const auto& [name, tensor] : tensors) {
    const Tensor c = tensor.contiguous();
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * dtype_size(c.dtype());
    header[name] = {{"dtype", code_of(c.dtype())}, {"shape", c.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(c);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned, as the reference writer does
  AtomicFile file(path);
  const uint64_t header_size = text.size();
  file.write(&header_size, 8);
  file.write(text.data(), text.size());
  for (const Tensor& c : contiguous) file.write(c.raw_data(), static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
  file.commit();
}

}  // namespace kiln::io
