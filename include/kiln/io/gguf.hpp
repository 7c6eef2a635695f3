#pragma once
// GGUF files (version 3), the model format of llama.cpp and ggml: the magic
// "GGUF", a version, the tensor and key/value counts, typed key/value
// metadata, one info record per tensor (name, dimensions innermost first,
// ggml type, offset), then the tensor data, each tensor aligned to 32 bytes.
// Everything little-endian. This is the writer; kiln reads no GGUF.
#include <cstdint>
#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include "kiln/tensor/tensor.hpp"

namespace kiln::io {

// The GGUF value types (gguf_type in ggml) kiln writes.
enum class GgufType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9,
  u64 = 10, i64 = 11, f64 = 12
};

// The ggml tensor types kiln writes (ggml_type numbers).
enum class GgmlType : uint32_t { f32 = 0, f16 = 1, q8_0 = 8, bf16 = 30 };

// IEEE 754 binary16, round to nearest even (overflow to ±inf, NaN kept).
uint16_t float_to_half(float value);
float half_to_float(uint16_t bits);

// ggml's Q8_0: blocks of 32 consecutive values along ne[0], each stored as an
// f16 scale d = max|x| / 127 followed by 32 int8 q = round(x / d) (half away
// from zero), so x ≈ q·d. 34 bytes per block.
inline constexpr int64_t kQ8BlockValues = 32;
inline constexpr int64_t kQ8BlockBytes = 2 + kQ8BlockValues;
// `count` values (a multiple of 32) → count / 32 blocks, as ggml's reference quantize_row_q8_0.
std::string quantize_q8_0(const float* values, int64_t count);
// Bytes of `count` values of `type` (a multiple of 32 for q8_0).
uint64_t ggml_bytes(GgmlType type, int64_t count);

class GgufWriter {
 public:
  static constexpr uint32_t kVersion = 3;
  static constexpr uint64_t kAlignment = 32;

  void add_u32(const std::string& key, uint32_t value);
  void add_i32(const std::string& key, int32_t value);
  void add_f32(const std::string& key, float value);
  void add_bool(const std::string& key, bool value);
  void add_string(const std::string& key, const std::string& value);
  void add_strings(const std::string& key, const std::vector<std::string>& values);
  void add_f32s(const std::string& key, const std::vector<float>& values);
  void add_i32s(const std::string& key, const std::vector<int32_t>& values);

  // `tensor` is a floating tensor in PyTorch's row-major [d0, …, dn] order; the
  // file lists its dimensions reversed (ggml's ne[0] is the innermost), so the
  // bytes are the same. Converted to `type` when written; q8_0 needs the
  // innermost dimension to be a multiple of 32 (its blocks never cross rows).
  void add_tensor(const std::string& name, const Tensor& tensor, GgmlType type);

  // Written to a temporary file beside `path` and renamed into place.
  void write(const std::filesystem::path& path) const;

 private:
  struct Entry {
    std::string key;
    GgufType type;
    std::string bytes;  // the value as it appears in the file (after the type)
  };
  struct TensorEntry {
    std::string name;
    Tensor values;  // f32, contiguous
    GgmlType type;
  };
  void add(const std::string& key, GgufType type, std::string bytes);
  std::vector<Entry> entries_;
  std::vector<TensorEntry> tensors_;
};

}  // namespace kiln::io
