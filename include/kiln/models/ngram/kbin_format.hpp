#pragma once
// The on-disk layout of a compiled n-gram model (`kiln ngram compile`, .kbin),
// version 5. A Header, then 8-byte aligned sections in this order: the block
// checksums (block_count u64, one per kBlockBytes of what follows them), the
// vocabulary's hash slots (vocab_capacity VocabSlot), its offsets
// (vocab_size + 1 u64 into the word bytes), the word bytes (padded to 8),
// then for each order n = 1..order its table of capacities[n−1] slots: an
// NgramSlot (16 bytes), or for the highest order of a model of order ≥ 2 a
// TopSlot (12 bytes, no backoff, as KenLM's probing model).
// The 1-gram table is an array indexed by word id (capacity vocab_size; key
// 0 for a word without a unigram). Every hash table keeps at least one empty slot (key or hash 0), and no probe
// sequence is longer than the header's max_probe for its table: lookups stop
// there, so no table content can make one run away. head_checksum covers the
// header and the block checksums; each block is verified before its first
// use (or all of them at load), so loading does not read the whole file.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kiln/models/ngram/index.hpp"

namespace kiln::ngram::kbin {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'N', 'G', 'R', 'M'};
constexpr uint32_t kVersion = 5;
constexpr int kMaxOrder = 10;
constexpr int kBlockShift = 12;  // 4 KiB blocks
constexpr uint64_t kBlockBytes = uint64_t{1} << kBlockShift;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t order;
  uint64_t vocab_size;
  uint64_t vocab_capacity;
  uint64_t vocab_bytes;
  uint64_t counts[kMaxOrder];
  uint64_t capacities[kMaxOrder];
  uint64_t max_probe[kMaxOrder];  // the most slots after its home slot a key of each table sits
  uint64_t vocab_max_probe;
  uint64_t file_size;
  uint64_t suffix_closed;  // 1 if every n-gram's suffix (first word dropped) is in the model
  uint64_t block_count;    // checksums of the bytes after them, one per kBlockBytes
  uint64_t head_checksum;  // of the header (this field 0) and the block checksums
};

struct VocabSlot {
  uint64_t hash;  // 0 = empty
  uint32_t id;
  uint32_t unused;
};

struct NgramSlot {
  uint64_t key;  // 0 = empty
  ProbBackoff value;
};

// The highest order has no backoffs: its slots are the key and log10 p, read
// and written with memcpy (a 12-byte stride leaves keys 4-byte aligned).
constexpr uint64_t kTopSlotBytes = 12;
static_assert(sizeof(NgramSlot) == 16);

inline uint64_t slot_bytes(uint64_t n, uint64_t order) {
  return n == order && order >= 2 ? kTopSlotBytes : sizeof(NgramSlot);
}

inline uint64_t align8(uint64_t x) { return (x + 7) / 8 * 8; }

inline uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

// Four independent lanes over 32-byte strides, so that a block costs about a
// quarter of one multiply chain's latency (lookups verify blocks on first use,
// which made a single chain 15% of a query's time).
inline uint64_t checksum_of(const std::byte* data, uint64_t size) {
  constexpr uint64_t kMultiplier = 0x9fb21c651e98df25ull;
  uint64_t lanes[4] = {0x243f6a8885a308d3ull, 0x13198a2e03707344ull, 0xa4093822299f31d0ull, 0x082efa98ec4e6c89ull};
  uint64_t i = 0;
  for (; i + 32 <= size; i += 32)
    for (int k = 0; k < 4; ++k) {
      uint64_t word;
      std::memcpy(&word, data + i + 8 * k, 8);
      lanes[k] = (lanes[k] ^ word) * kMultiplier;
      lanes[k] ^= lanes[k] >> 29;
    }
  uint64_t h = lanes[0] ^ mix(lanes[1]) ^ mix(lanes[2] + 1) ^ mix(lanes[3] + 2);
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);
    h = (h ^ word) * kMultiplier;
    h ^= h >> 29;
  }
  for (; i < size; ++i) h = (h ^ static_cast<uint64_t>(data[i])) * 0x100000001b3ull;
  return mix(h ^ size);
}

// Where the blocks start: after the header and the block checksums.
inline uint64_t blocks_at(const Header& h) { return sizeof(Header) + h.block_count * 8; }
inline uint64_t block_count_for(uint64_t bytes) { return (bytes + kBlockBytes - 1) / kBlockBytes; }
// The byte offset of the n-gram tables (the 1-gram table first).
inline uint64_t tables_at(const Header& h) {
  return blocks_at(h) + h.vocab_capacity * sizeof(VocabSlot) + (h.vocab_size + 1) * 8 + align8(h.vocab_bytes);
}

inline uint64_t head_checksum_of(const std::byte* file) {
  Header h;
  std::memcpy(&h, file, sizeof h);
  h.head_checksum = 0;
  const uint64_t a = checksum_of(reinterpret_cast<const std::byte*>(&h), sizeof h);
  const uint64_t b = checksum_of(file + sizeof(Header), h.block_count * 8);
  return mix(a ^ (b * 0x9e3779b97f4a7c15ull));
}

// Writes the block checksums and the head checksum of a complete file whose
// header has every other field set.
inline void seal(std::byte* file, uint64_t size) {
  Header h;
  std::memcpy(&h, file, sizeof h);
  const uint64_t at = blocks_at(h);
  for (uint64_t b = 0; b < h.block_count; ++b) {
    const uint64_t begin = at + b * kBlockBytes, end = begin + kBlockBytes < size ? begin + kBlockBytes : size;
    const uint64_t sum = checksum_of(file + begin, end - begin);
    std::memcpy(file + sizeof(Header) + b * 8, &sum, 8);
  }
  h.head_checksum = head_checksum_of(file);
  std::memcpy(file, &h, sizeof h);
}

}  // namespace kiln::ngram::kbin
