#include "kiln/models/ngram/index.hpp"

#include <array>
#include <cstring>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/io/mapped_file.hpp"
#include "kiln/models/ngram/kbin_format.hpp"

namespace kiln::ngram {

using kbin::align8;
using kbin::checksum_of;
using kbin::Header;
using kbin::kMagic;
using kbin::kMaxOrder;
using kbin::kVersion;
using kbin::mix;
using kbin::NgramSlot;
using kbin::VocabSlot;

namespace {

// The key folds the ids from the last to the first, so the keys of w,
// h_k w, h_{k-1} h_k w, ... come one step at a time (see NgramIndex::extend_key).
uint64_t stored_key(uint64_t chain) { return chain == 0 ? 1 : chain; }

uint64_t ngram_key(std::span<const WordId> ids) {
  uint64_t chain = NgramIndex::start_key();
  for (size_t i = ids.size(); i-- > 0;) chain = NgramIndex::extend_key(chain, ids[i]);
  return stored_key(chain);
}

uint64_t string_key(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  h = mix(h);
  return h == 0 ? 1 : h;
}

// n-gram tables: load factor 2/3 at any size (no rounding to a power of
// two, which could halve the density), slots found by multiply-shift.
uint64_t table_capacity(uint64_t count) { return std::max<uint64_t>(16, count + count / 2 + 1); }

uint64_t home_slot(uint64_t key, uint64_t capacity) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(key) * capacity) >> 64);
}

uint64_t capacity_for(uint64_t count) {
  uint64_t c = 16;
  while (c < count + count / 2 + 1) c *= 2;
  return c;
}

}  // namespace

struct NgramIndex::Region {
  std::vector<std::byte> owned;  // built in memory, or
  io::MappedFile mapped;         // loaded from a file
  const std::byte* data = nullptr;
  size_t size = 0;
  const Header& header() const { return *reinterpret_cast<const Header*>(data); }
  const VocabSlot* vocab_slots() const { return reinterpret_cast<const VocabSlot*>(data + sizeof(Header)); }
  const uint64_t* vocab_offsets() const {
    return reinterpret_cast<const uint64_t*>(vocab_slots() + header().vocab_capacity);
  }
  const char* vocab_bytes() const { return reinterpret_cast<const char*>(vocab_offsets() + header().vocab_size + 1); }
  const NgramSlot* table(int n) const {
    const std::byte* p = reinterpret_cast<const std::byte*>(vocab_bytes()) + align8(header().vocab_bytes);
    for (int k = 1; k < n; ++k) p += header().capacities[k - 1] * sizeof(NgramSlot);
    return reinterpret_cast<const NgramSlot*>(p);
  }
  // Where each order's table starts, computed once: lookups are the hot path.
  std::array<const NgramSlot*, kMaxOrder> tables{};
  std::array<uint64_t, kMaxOrder> capacities{};
  void locate_tables() {
    for (uint32_t n = 1; n <= header().order; ++n) {
      tables[n - 1] = table(static_cast<int>(n));
      capacities[n - 1] = header().capacities[n - 1];
    }
  }
};

NgramIndex NgramIndex::build(const BackoffModel& model) {
  const int order = model.order();
  KILN_CHECK(order >= 1 && order <= kMaxOrder, "model order {} is outside 1..{}", order, kMaxOrder);
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kVersion;
  h.order = static_cast<uint32_t>(order);
  h.vocab_size = model.vocab.size();
  h.vocab_capacity = capacity_for(h.vocab_size);
  for (const std::string& w : model.vocab) h.vocab_bytes += w.size();
  uint64_t size = sizeof(Header) + h.vocab_capacity * sizeof(VocabSlot) + (h.vocab_size + 1) * 8 + align8(h.vocab_bytes);
  for (int n = 1; n <= order; ++n) {
    h.counts[n - 1] = model.orders[static_cast<size_t>(n) - 1].size();
    h.capacities[n - 1] = table_capacity(h.counts[n - 1]);
    size += h.capacities[n - 1] * sizeof(NgramSlot);
  }
  h.file_size = size;
  auto region = std::make_shared<Region>();
  region->owned.assign(size, std::byte{0});
  region->data = region->owned.data();
  region->size = size;
  std::memcpy(region->owned.data(), &h, sizeof h);
  region->locate_tables();

  auto* vocab_slots = const_cast<VocabSlot*>(region->vocab_slots());
  auto* offsets = const_cast<uint64_t*>(region->vocab_offsets());
  auto* bytes = const_cast<char*>(region->vocab_bytes());
  // Only words with a unigram are in the vocabulary: a word pruned away
  // (e.g. by --limit-vocab) is out of vocabulary and scores as <unk>.
  std::vector<bool> has_unigram(model.vocab.size(), false);
  for (WordId w : model.orders[0].words) has_unigram[w] = true;
  uint64_t at = 0;
  for (size_t id = 0; id < model.vocab.size(); ++id) {
    const std::string& w = model.vocab[id];
    offsets[id] = at;
    std::memcpy(bytes + at, w.data(), w.size());
    at += w.size();
    if (w.empty() || !has_unigram[id]) continue;
    uint64_t slot = string_key(w) & (h.vocab_capacity - 1);
    while (vocab_slots[slot].hash != 0) slot = (slot + 1) & (h.vocab_capacity - 1);
    vocab_slots[slot] = {string_key(w), static_cast<uint32_t>(id), 0};
  }
  offsets[model.vocab.size()] = at;
  for (int n = 1; n <= order; ++n) {
    const OrderTable& t = model.orders[static_cast<size_t>(n) - 1];
    auto* slots = const_cast<NgramSlot*>(region->table(n));
    const uint64_t capacity = h.capacities[n - 1];
    for (size_t i = 0; i < t.size(); ++i) {
      const uint64_t key = ngram_key(t.ngram(i));
      uint64_t slot = home_slot(key, capacity);
      while (slots[slot].key != 0) slot = slot + 1 == capacity ? 0 : slot + 1;
      slots[slot] = {key, {t.log10_prob[i], t.log10_backoff[i]}};
    }
  }
  // lmplz's models are suffix-closed; then a query can stop at the first
  // missing suffix. Others (hand-made, or pruned by other tools) take the
  // longest-match search.
  NgramIndex index;
  index.region_ = region;
  h.suffix_closed = 1;
  for (int n = 2; n <= order && h.suffix_closed; ++n) {
    const OrderTable& t = model.orders[static_cast<size_t>(n) - 1];
    for (size_t i = 0; i < t.size() && h.suffix_closed; ++i)
      if (index.find(t.ngram(i).subspan(1)) == nullptr) h.suffix_closed = 0;
  }
  h.checksum = checksum_of(region->data + sizeof(Header), size - sizeof(Header));
  std::memcpy(region->owned.data(), &h, sizeof h);
  return index;
}

void NgramIndex::save(const std::filesystem::path& path) const {
  io::AtomicFile file(path);
  file.write(region_->data, region_->size);
  file.commit();
}

NgramIndex NgramIndex::load(const std::filesystem::path& path) {
  io::MappedFile file = io::MappedFile::open(path, true);
  const size_t size = file.size();
  KILN_CHECK(size >= sizeof(Header), "{}: too short to be a kiln n-gram binary ({} bytes)", path.string(), size);
  auto region = std::make_shared<Region>();
  region->data = file.data();
  region->size = size;
  region->mapped = std::move(file);
  const Header& h = region->header();
  KILN_CHECK(std::memcmp(h.magic, kMagic, 8) == 0, "{}: not a kiln n-gram binary (bad magic)", path.string());
  KILN_CHECK(h.version == kVersion, "{}: binary format version {}, this kiln reads version {}", path.string(),
             h.version, kVersion);
  KILN_CHECK(h.file_size == size, "{}: truncated or padded: header says {} bytes, the file has {}", path.string(),
             h.file_size, size);
  KILN_CHECK(h.order >= 1 && h.order <= kMaxOrder && h.suffix_closed <= 1, "{}: corrupt header", path.string());
  KILN_CHECK(checksum_of(region->data + sizeof(Header), size - sizeof(Header)) == h.checksum,
             "{}: checksum mismatch (the file is corrupt)", path.string());
  // The checksum only proves the bytes are the ones written; the geometry
  // must also be self-consistent before any pointer into the file is formed.
  auto power_of_two = [](uint64_t x) { return x >= 16 && (x & (x - 1)) == 0; };  // the vocabulary's capacity
  bool consistent = power_of_two(h.vocab_capacity) && h.vocab_size < h.vocab_capacity && h.vocab_size >= 3;
  uint64_t expected = sizeof(Header) + h.vocab_capacity * sizeof(VocabSlot) + (h.vocab_size + 1) * 8 + align8(h.vocab_bytes);
  for (uint32_t n = 0; n < h.order && consistent; ++n) {
    consistent = h.counts[n] < h.capacities[n] && h.capacities[n] < (uint64_t{1} << 40);
    expected += h.capacities[n] * sizeof(NgramSlot);
  }
  KILN_CHECK(consistent && expected == size, "{}: corrupt header (section sizes do not add up)", path.string());
  const uint64_t* offsets = region->vocab_offsets();
  for (uint64_t i = 0; i < h.vocab_size; ++i)
    KILN_CHECK(offsets[i] <= offsets[i + 1] && offsets[i + 1] <= h.vocab_bytes, "{}: corrupt vocabulary",
               path.string());
  for (uint64_t i = 0; i < h.vocab_capacity; ++i)
    KILN_CHECK(region->vocab_slots()[i].hash == 0 || region->vocab_slots()[i].id < h.vocab_size,
               "{}: corrupt vocabulary index", path.string());
  // Every probe sequence ends at an empty slot: a table without one (its
  // checksum recomputed to look well-formed) would make a lookup loop forever.
  uint64_t vocab_used = 0;
  for (uint64_t i = 0; i < h.vocab_capacity; ++i) vocab_used += region->vocab_slots()[i].hash != 0;
  KILN_CHECK(vocab_used <= h.vocab_size, "{}: corrupt vocabulary index ({} slots used for {} words)", path.string(),
             vocab_used, h.vocab_size);
  region->locate_tables();
  for (uint32_t n = 1; n <= h.order; ++n) {
    const NgramSlot* slots = region->tables[n - 1];
    uint64_t used = 0;
    for (uint64_t i = 0; i < h.capacities[n - 1]; ++i) used += slots[i].key != 0;
    KILN_CHECK(used <= h.counts[n - 1], "{}: corrupt {}-gram table ({} slots used for {} n-grams)", path.string(), n,
               used, h.counts[n - 1]);
  }
  NgramIndex index;
  index.region_ = std::move(region);
  return index;
}

int NgramIndex::order() const { return static_cast<int>(region_->header().order); }

size_t NgramIndex::vocab_size() const { return region_->header().vocab_size; }

std::optional<WordId> NgramIndex::word_id(std::string_view word) const {
  const uint64_t key = string_key(word), mask = region_->header().vocab_capacity - 1;
  const VocabSlot* slots = region_->vocab_slots();
  for (uint64_t slot = key & mask; slots[slot].hash != 0; slot = (slot + 1) & mask)
    if (slots[slot].hash == key && this->word(slots[slot].id) == word) return slots[slot].id;
  return std::nullopt;
}

std::string_view NgramIndex::word(WordId id) const {
  const uint64_t* offsets = region_->vocab_offsets();
  return {region_->vocab_bytes() + offsets[id], offsets[id + 1] - offsets[id]};
}

bool NgramIndex::suffix_closed() const { return region_->header().suffix_closed == 1; }

const ProbBackoff* NgramIndex::find(std::span<const WordId> ngram) const {
  const int n = static_cast<int>(ngram.size());
  if (n < 1 || n > order()) return nullptr;
  return find_key(n, ngram_key(ngram));
}

const ProbBackoff* NgramIndex::find_chain(int n, uint64_t chain) const {
  if (n < 1 || n > order()) return nullptr;
  return find_key(n, stored_key(chain));
}

void NgramIndex::prefetch_chain(int n, uint64_t chain) const {
  if (n >= 1 && n <= order())
    __builtin_prefetch(region_->tables[static_cast<size_t>(n) - 1] +
                       home_slot(stored_key(chain), region_->capacities[static_cast<size_t>(n) - 1]));
}

const ProbBackoff* NgramIndex::find_key(int n, uint64_t key) const {
  const uint64_t capacity = region_->capacities[static_cast<size_t>(n) - 1];
  const NgramSlot* slots = region_->tables[static_cast<size_t>(n) - 1];
  for (uint64_t slot = home_slot(key, capacity); slots[slot].key != 0; slot = slot + 1 == capacity ? 0 : slot + 1)
    if (slots[slot].key == key) return &slots[slot].value;
  return nullptr;
}

}  // namespace kiln::ngram
