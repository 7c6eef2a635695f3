#pragma once
// The on-disk layout of a compiled n-gram model (`kiln ngram compile`, .kbin),
// version 2. A Header, then 8-byte aligned sections in this order: the
// vocabulary's hash slots (vocab_capacity VocabSlot), its offsets
// (vocab_size + 1 u64 into the word bytes), the word bytes (padded to 8),
// then for each order n = 1..order its table of capacities[n−1] NgramSlot.
// Every table keeps at least one empty slot (key or hash 0), which ends every
// probe sequence; loading checks that, the section sizes and a checksum of
// every byte after the header.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kiln/models/ngram/index.hpp"

namespace kiln::ngram::kbin {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'N', 'G', 'R', 'M'};
constexpr uint32_t kVersion = 2;
constexpr int kMaxOrder = 10;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t order;
  uint64_t vocab_size;
  uint64_t vocab_capacity;
  uint64_t vocab_bytes;
  uint64_t counts[kMaxOrder];
  uint64_t capacities[kMaxOrder];
  uint64_t file_size;
  uint64_t suffix_closed;  // 1 if every n-gram's suffix (first word dropped) is in the model
  uint64_t checksum;       // of every byte after the header
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

inline uint64_t align8(uint64_t x) { return (x + 7) / 8 * 8; }

inline uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

inline uint64_t checksum_of(const std::byte* data, uint64_t size) {
  uint64_t h = 0x243f6a8885a308d3ull;
  uint64_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);
    h = (h ^ word) * 0x9fb21c651e98df25ull;
    h ^= h >> 29;
  }
  for (; i < size; ++i) h = (h ^ static_cast<uint64_t>(data[i])) * 0x100000001b3ull;
  return mix(h);
}

}  // namespace kiln::ngram::kbin
