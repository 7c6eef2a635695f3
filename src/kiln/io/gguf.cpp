#include "kiln/io/gguf.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "kiln/base/error.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/tensor/bf16.hpp"

namespace kiln::io {

static_assert(std::endian::native == std::endian::little, "GGUF is written little-endian by copying bytes");

namespace {

template <typename T>
void append(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void append_string(std::string& out, const std::string& s) {
  append<uint64_t>(out, s.size());
  out += s;
}

template <typename T>
std::string array_bytes(GgufType element, const std::vector<T>& values) {
  std::string out;
  append<uint32_t>(out, static_cast<uint32_t>(element));
  append<uint64_t>(out, values.size());
  for (const T& v : values) append<T>(out, v);
  return out;
}

// A contiguous f32 tensor's values as the bytes of `type`.
std::string encoded(const Tensor& values, GgmlType type) {
  const float* x = values.data<float>();
  const auto n = static_cast<size_t>(values.numel());
  std::string out;
  switch (type) {
    case GgmlType::f32: out.assign(reinterpret_cast<const char*>(x), 4 * n); break;
    case GgmlType::f16:
    case GgmlType::bf16: {
      std::vector<uint16_t> halves(n);
      for (size_t j = 0; j < n; ++j) halves[j] = type == GgmlType::f16 ? float_to_half(x[j]) : bf16::round_from(x[j]);
      out.assign(reinterpret_cast<const char*>(halves.data()), 2 * n);
      break;
    }
    case GgmlType::q8_0: out = quantize_q8_0(x, values.numel()); break;
  }
  return out;
}

uint64_t padded(uint64_t offset) { return (offset + GgufWriter::kAlignment - 1) / GgufWriter::kAlignment * GgufWriter::kAlignment; }

}  // namespace

uint16_t float_to_half(float value) {
  const uint32_t f = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (f >> 16) & 0x8000u;
  const uint32_t exponent = (f >> 23) & 0xffu;
  uint32_t mantissa = f & 0x7fffffu;
  if (exponent == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mantissa != 0 ? 0x200u : 0u));
  const int32_t e = static_cast<int32_t>(exponent) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {
    // A subnormal half (or zero): shift the mantissa with its implicit bit in, rounding to nearest even.
    if (e < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;
    const uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // a carry may round up to inf: correct
  return static_cast<uint16_t>(sign | half);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

std::string quantize_q8_0(const float* values, int64_t count) {
  KILN_CHECK(count % kQ8BlockValues == 0, "q8_0: {} values are not whole blocks of {}", count, kQ8BlockValues);
  std::string out(static_cast<size_t>(count / kQ8BlockValues * kQ8BlockBytes), '\0');
  for (int64_t block = 0; block < count / kQ8BlockValues; ++block) {
    const float* x = values + block * kQ8BlockValues;
    float amax = 0;
    for (int64_t j = 0; j < kQ8BlockValues; ++j) amax = std::max(amax, std::abs(x[j]));
    // Single-precision arithmetic throughout, as ggml's reference, so the bytes match its quantizer.
    const float d = amax / 127.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    char* b = out.data() + block * kQ8BlockBytes;
    const uint16_t scale = float_to_half(d);
    std::memcpy(b, &scale, 2);
    for (int64_t j = 0; j < kQ8BlockValues; ++j) b[2 + j] = static_cast<char>(static_cast<int8_t>(std::round(x[j] * inverse)));
  }
  return out;
}

uint64_t ggml_bytes(GgmlType type, int64_t count) {
  const auto n = static_cast<uint64_t>(count);
  switch (type) {
    case GgmlType::f32: return 4 * n;
    case GgmlType::f16:
    case GgmlType::bf16: return 2 * n;
    case GgmlType::q8_0: return n / kQ8BlockValues * kQ8BlockBytes;
  }
  fail("gguf: unknown ggml type {}", static_cast<uint32_t>(type));
}

void GgufWriter::add(const std::string& key, GgufType type, std::string bytes) {
  for (const Entry& e : entries_) KILN_CHECK(e.key != key, "gguf: key '{}' written twice", key);
  entries_.push_back({key, type, std::move(bytes)});
}

void GgufWriter::add_u32(const std::string& key, uint32_t value) {
  std::string b;
  append(b, value);
  add(key, GgufType::u32, b);
}

void GgufWriter::add_i32(const std::string& key, int32_t value) {
  std::string b;
  append(b, value);
  add(key, GgufType::i32, b);
}

void GgufWriter::add_f32(const std::string& key, float value) {
  std::string b;
  append(b, value);
  add(key, GgufType::f32, b);
}

void GgufWriter::add_bool(const std::string& key, bool value) {
  std::string b;
  append<uint8_t>(b, value ? 1 : 0);
  add(key, GgufType::boolean, b);
}

void GgufWriter::add_string(const std::string& key, const std::string& value) {
  std::string b;
  append_string(b, value);
  add(key, GgufType::string, b);
}

void GgufWriter::add_strings(const std::string& key, const std::vector<std::string>& values) {
  std::string b;
  append<uint32_t>(b, static_cast<uint32_t>(GgufType::string));
  append<uint64_t>(b, values.size());
  for (const std::string& v : values) append_string(b, v);
  add(key, GgufType::array, b);
}

void GgufWriter::add_f32s(const std::string& key, const std::vector<float>& values) {
  add(key, GgufType::array, array_bytes(GgufType::f32, values));
}

void GgufWriter::add_i32s(const std::string& key, const std::vector<int32_t>& values) {
  add(key, GgufType::array, array_bytes(GgufType::i32, values));
}

void GgufWriter::add_tensor(const std::string& name, const Tensor& tensor, GgmlType type) {
  KILN_CHECK(is_floating(tensor.dtype()), "gguf: tensor '{}' is {}, not floating", name, tensor.describe());
  KILN_CHECK(tensor.dim() >= 1 && tensor.dim() <= 4, "gguf: tensor '{}' is {}; ggml holds 1 to 4 dimensions", name,
             tensor.describe());
  for (const TensorEntry& t : tensors_) KILN_CHECK(t.name != name, "gguf: tensor '{}' written twice", name);
  KILN_CHECK(type != GgmlType::q8_0 || tensor.size(tensor.dim() - 1) % kQ8BlockValues == 0,
             "gguf: tensor '{}' is {}; q8_0 needs rows of a multiple of {} values", name, tensor.describe(),
             kQ8BlockValues);
  tensors_.push_back({name, tensor.to(DType::f32).contiguous(), type});
}

void GgufWriter::write(const std::filesystem::path& path) const {
  std::string header = "GGUF";
  append<uint32_t>(header, kVersion);
  append<uint64_t>(header, tensors_.size());
  append<uint64_t>(header, entries_.size());
  for (const Entry& e : entries_) {
    append_string(header, e.key);
    append<uint32_t>(header, static_cast<uint32_t>(e.type));
    header += e.bytes;
  }
  std::vector<uint64_t> offsets;
  uint64_t offset = 0;
  for (const TensorEntry& t : tensors_) {
    append_string(header, t.name);
    append<uint32_t>(header, static_cast<uint32_t>(t.values.dim()));
    for (int64_t d = t.values.dim() - 1; d >= 0; --d) append<uint64_t>(header, static_cast<uint64_t>(t.values.size(d)));
    append<uint32_t>(header, static_cast<uint32_t>(t.type));
    append<uint64_t>(header, offset);
    offsets.push_back(offset);
    offset = padded(offset + ggml_bytes(t.type, t.values.numel()));
  }
  header.resize(padded(header.size()), '\0');
  AtomicFile file(path);
  file.write(header.data(), header.size());
  uint64_t written = 0;
  const std::string zeros(kAlignment, '\0');
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const TensorEntry& t = tensors_[i];
    if (written < offsets[i]) file.write(zeros.data(), offsets[i] - written);
    written = offsets[i];
    const std::string bytes = encoded(t.values, t.type);
    file.write(bytes.data(), bytes.size());
    written += bytes.size();
  }
  file.commit();
}

}  // namespace kiln::io
