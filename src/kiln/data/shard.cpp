#include "kiln/data/shard.hpp"


#include <cstring>

#include "kiln/base/error.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/io/mapped_file.hpp"

namespace kiln::data {

namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'T', 'O', 'K', '\0'};
constexpr uint32_t kVersion = 1;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t width;
  uint64_t tokens;
  uint64_t documents;
};

uint64_t padded(uint64_t bytes) { return (bytes + 7) / 8 * 8; }

}  // namespace


void write_shard(const std::filesystem::path& path, const std::vector<int32_t>& tokens,
                 const std::vector<uint64_t>& document_starts, int64_t vocab_size) {
  KILN_CHECK(!document_starts.empty() && document_starts.front() == 0 && document_starts.back() == tokens.size(),
             "shard: document offsets must run from 0 to the token count");
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kVersion;
  h.width = vocab_size <= 65536 ? 2 : 4;
  h.tokens = tokens.size();
  h.documents = document_starts.size() - 1;
  io::AtomicFile file(path);
  file.write(&h, sizeof h);
  std::vector<uint8_t> packed(padded(tokens.size() * h.width), 0);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const auto v = static_cast<uint32_t>(tokens[i]);
    std::memcpy(packed.data() + i * h.width, &v, h.width);  // little-endian machines
  }
  file.write(packed.data(), packed.size());
  file.write(document_starts.data(), document_starts.size() * sizeof(uint64_t));
  file.commit();
}

TokenShard TokenShard::open(const std::filesystem::path& path) {
  io::MappedFile file = io::MappedFile::open(path);
  KILN_CHECK(file.size() >= sizeof(Header), "{}: too short to be a token shard", path.string());
  const size_t size = file.size();
  const void* address = file.data();
  Header h{};
  std::memcpy(&h, address, sizeof h);
  KILN_CHECK(std::memcmp(h.magic, kMagic, 8) == 0, "{}: not a kiln token shard (bad magic)", path.string());
  KILN_CHECK(h.version == kVersion, "{}: shard version {}, this kiln reads {}", path.string(), h.version, kVersion);
  KILN_CHECK(h.width == 2 || h.width == 4, "{}: corrupt header (token width {})", path.string(), h.width);
  KILN_CHECK(h.tokens < (uint64_t{1} << 40) && h.documents <= h.tokens, "{}: corrupt header", path.string());
  const uint64_t expected = sizeof(Header) + padded(h.tokens * h.width) + (h.documents + 1) * sizeof(uint64_t);
  KILN_CHECK(expected == size, "{}: truncated or corrupt: {} bytes, the header implies {}", path.string(), size, expected);
  TokenShard shard;
  shard.file_ = std::move(file);
  shard.data_ = static_cast<const uint8_t*>(address) + sizeof(Header);
  shard.width_ = h.width;
  shard.token_count_ = h.tokens;
  shard.document_count_ = h.documents;
  return shard;
}

int32_t TokenShard::token(uint64_t i) const {
  uint32_t v = 0;
  std::memcpy(&v, data_ + i * width_, width_);
  return static_cast<int32_t>(v);
}

std::vector<int32_t> TokenShard::all_tokens() const {
  std::vector<int32_t> out(token_count_);
  for (uint64_t i = 0; i < token_count_; ++i) out[i] = token(i);
  return out;
}

}  // namespace kiln::data
