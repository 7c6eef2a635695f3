#pragma once
// Tokenised corpora on disk, read through mmap:
//   header: magic "KILNTOK\0", u32 version, u32 bytes per token (2 or 4),
//           u64 token count, u64 document count
//   tokens (u16 when the vocabulary fits, else u32), padded to 8 bytes
//   document start offsets: u64 × (documents + 1)
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "kiln/io/mapped_file.hpp"

namespace kiln::data {

struct ShardWriterStats {
  uint64_t tokens = 0, documents = 0;
};

// Atomic: the shard appears complete or not at all.
void write_shard(const std::filesystem::path& path, const std::vector<int32_t>& tokens,
                 const std::vector<uint64_t>& document_starts, int64_t vocab_size);

class TokenShard {
 public:
  static TokenShard open(const std::filesystem::path& path);
  uint64_t tokens() const { return token_count_; }
  uint64_t documents() const { return document_count_; }
  int32_t token(uint64_t i) const;
  std::vector<int32_t> all_tokens() const;

 private:
  io::MappedFile file_;
  const uint8_t* data_ = nullptr;
  uint32_t width_ = 2;
  uint64_t token_count_ = 0, document_count_ = 0;
};

}  // namespace kiln::data
