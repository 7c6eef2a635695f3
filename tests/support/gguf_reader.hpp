#pragma once
// A small GGUF reader for tests, written from the format description
// (ggml's docs/gguf.md), independently of kiln's writer: every field is read
// with its type and the reader refuses anything it does not understand.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::testing {

struct GgufKv {
  uint32_t type = 0;        // gguf_type of the value
  uint32_t element = 0;     // for arrays: the element type
  uint64_t u = 0;           // u8..u64, bool
  int64_t i = 0;            // i8..i64
  double f = 0;             // f32, f64
  std::string s;            // string
  std::vector<std::string> strings;
  std::vector<double> numbers;  // numeric arrays
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ne[0] first (innermost)
  uint32_t type = 0;
  uint64_t offset = 0;  // from the start of the data section
};

struct GgufFile {
  uint32_t version = 0;
  std::vector<std::string> key_order;
  std::map<std::string, GgufKv> kv;
  std::vector<GgufTensorInfo> tensors;
  uint64_t data_start = 0;
  std::string bytes;

  const char* tensor_data(const GgufTensorInfo& t) const { return bytes.data() + data_start + t.offset; }
};

class GgufCursor {
 public:
  explicit GgufCursor(const std::string& bytes) : bytes_(bytes) {}
  template <typename T>
  T read() {
    if (at_ + sizeof(T) > bytes_.size()) throw std::runtime_error("gguf: truncated at byte " + std::to_string(at_));
    T v;
    std::memcpy(&v, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  std::string string() {
    const auto n = read<uint64_t>();
    if (at_ + n > bytes_.size()) throw std::runtime_error("gguf: string past the end");
    std::string s = bytes_.substr(at_, n);
    at_ += n;
    return s;
  }
  uint64_t at() const { return at_; }

 private:
  const std::string& bytes_;
  uint64_t at_ = 0;
};

inline void read_gguf_scalar(GgufCursor& c, uint32_t type, GgufKv& kv, bool into_array) {
  double number = 0;
  switch (type) {
    case 0: kv.u = c.read<uint8_t>(); number = static_cast<double>(kv.u); break;
    case 1: kv.i = c.read<int8_t>(); number = static_cast<double>(kv.i); break;
    case 2: kv.u = c.read<uint16_t>(); number = static_cast<double>(kv.u); break;
    case 3: kv.i = c.read<int16_t>(); number = static_cast<double>(kv.i); break;
    case 4: kv.u = c.read<uint32_t>(); number = static_cast<double>(kv.u); break;
    case 5: kv.i = c.read<int32_t>(); number = static_cast<double>(kv.i); break;
    case 6: kv.f = c.read<float>(); number = kv.f; break;
    case 7: {
      const auto b = c.read<uint8_t>();
      if (b > 1) throw std::runtime_error("gguf: bool that is neither 0 nor 1");
      kv.u = b;
      number = b;
      break;
    }
    case 8:
      if (into_array) kv.strings.push_back(c.string());
      else kv.s = c.string();
      return;
    case 10: kv.u = c.read<uint64_t>(); number = static_cast<double>(kv.u); break;
    case 11: kv.i = c.read<int64_t>(); number = static_cast<double>(kv.i); break;
    case 12: kv.f = c.read<double>(); number = kv.f; break;
    default: throw std::runtime_error("gguf: unknown value type " + std::to_string(type));
  }
  if (into_array) kv.numbers.push_back(number);
}

// ggml types this reader knows: F32 (0), F16 (1), Q8_0 (8: blocks of 32 values
// along ne[0], an f16 scale then 32 int8, 34 bytes), BF16 (30). 0 for any other,
// or for Q8_0 rows that are not whole blocks.
inline uint64_t gguf_tensor_bytes(uint32_t type, uint64_t count, uint64_t row) {
  switch (type) {
    case 0: return 4 * count;
    case 1:
    case 30: return 2 * count;
    case 8: return row % 32 == 0 ? count / 32 * 34 : 0;
    default: return 0;
  }
}

inline GgufFile read_gguf(const std::string& path) {
  GgufFile file;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  file.bytes = buffer.str();
  GgufCursor c(file.bytes);
  if (file.bytes.compare(0, 4, "GGUF") != 0) throw std::runtime_error(path + ": no GGUF magic");
  c.read<uint32_t>();
  file.version = c.read<uint32_t>();
  const auto n_tensors = c.read<uint64_t>();
  const auto n_kv = c.read<uint64_t>();
  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string key = c.string();
    if (file.kv.count(key)) throw std::runtime_error("gguf: duplicate key " + key);
    GgufKv kv;
    kv.type = c.read<uint32_t>();
    if (kv.type == 9) {
      kv.element = c.read<uint32_t>();
      if (kv.element == 9) throw std::runtime_error("gguf: nested arrays are not read here");
      const auto count = c.read<uint64_t>();
      for (uint64_t j = 0; j < count; ++j) read_gguf_scalar(c, kv.element, kv, true);
    } else {
      read_gguf_scalar(c, kv.type, kv, false);
    }
    file.key_order.push_back(key);
    file.kv[key] = kv;
  }
  for (uint64_t t = 0; t < n_tensors; ++t) {
    GgufTensorInfo info;
    info.name = c.string();
    const auto n_dims = c.read<uint32_t>();
    for (uint32_t d = 0; d < n_dims; ++d) info.dims.push_back(c.read<uint64_t>());
    info.type = c.read<uint32_t>();
    info.offset = c.read<uint64_t>();
    file.tensors.push_back(info);
  }
  uint64_t alignment = 32;
  if (file.kv.count("general.alignment")) alignment = file.kv["general.alignment"].u;
  file.data_start = (c.at() + alignment - 1) / alignment * alignment;
  for (const auto& t : file.tensors) {
    uint64_t n = 1;
    for (auto d : t.dims) n *= d;
    const uint64_t size = gguf_tensor_bytes(t.type, n, t.dims.empty() ? 0 : t.dims[0]);
    if (size == 0) throw std::runtime_error("gguf: tensor " + t.name + " has a type this reader does not know");
    if (t.offset % alignment != 0) throw std::runtime_error("gguf: tensor " + t.name + " is not aligned");
    if (file.data_start + t.offset + size > file.bytes.size())
      throw std::runtime_error("gguf: tensor " + t.name + " lies past the end of the file");
  }
  return file;
}

}  // namespace kiln::testing
