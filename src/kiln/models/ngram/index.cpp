#include "kiln/models/ngram/index.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/io/mapped_file.hpp"
#include "kiln/models/ngram/arpa.hpp"
#include "kiln/models/ngram/kbin_format.hpp"

namespace kiln::ngram {

using kbin::align8;
using kbin::blocks_at;
using kbin::checksum_of;
using kbin::kBlockBytes;
using kbin::kBlockShift;
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
  std::string name;              // the file, for messages
  const std::byte* data = nullptr;
  size_t size = 0;
  uint64_t blocks_begin = 0;
  // Bit b of verified[b / 64] is set once block b's checksum matched (all set
  // for a model built in memory): a bit, not a byte, so that the flags of a
  // large file stay in the caches beside the tables a query probes.
  std::unique_ptr<std::atomic<uint64_t>[]> verified;
  const Header& header() const { return *reinterpret_cast<const Header*>(data); }
  const uint64_t* block_sums() const { return reinterpret_cast<const uint64_t*>(data + sizeof(Header)); }
  const VocabSlot* vocab_slots() const { return reinterpret_cast<const VocabSlot*>(data + blocks_at(header())); }
  const uint64_t* vocab_offsets() const {
    return reinterpret_cast<const uint64_t*>(vocab_slots() + header().vocab_capacity);
  }
  const char* vocab_bytes() const { return reinterpret_cast<const char*>(vocab_offsets() + header().vocab_size + 1); }
  // Where each order's table starts and its slot size, computed once:
  // lookups are the hot path.
  std::array<const std::byte*, kMaxOrder> tables{};
  std::array<uint64_t, kMaxOrder> slot_bytes{};
  std::array<uint64_t, kMaxOrder> capacities{};
  std::array<uint64_t, kMaxOrder> max_probe{};
  void locate_tables() {
    const Header& h = header();
    const std::byte* p = data + kbin::tables_at(h);
    for (uint32_t n = 1; n <= h.order; ++n) {
      tables[n - 1] = p;
      slot_bytes[n - 1] = kbin::slot_bytes(n, h.order);
      capacities[n - 1] = h.capacities[n - 1];
      max_probe[n - 1] = h.max_probe[n - 1];
      p += h.capacities[n - 1] * slot_bytes[n - 1];
    }
  }
  // Slot `slot` of order n's table (k = n − 1).
  const std::byte* slot_at(size_t k, uint64_t slot) const { return tables[k] + slot * slot_bytes[k]; }
  static uint64_t key_at(const std::byte* slot) {
    uint64_t key;
    std::memcpy(&key, slot, sizeof key);
    return key;
  }
  // A slot is the key, log10 p and, below the highest order, log10 backoff;
  // both functions below are the only places that know where they lie.
  ProbBackoff values_at(size_t k, const std::byte* slot) const {
    ProbBackoff v{};
    std::memcpy(&v.log10_prob, slot + sizeof(uint64_t), sizeof(float));
    if (slot_bytes[k] == sizeof(NgramSlot))
      std::memcpy(&v.log10_backoff, slot + sizeof(uint64_t) + sizeof(float), sizeof(float));
    return v;  // a top-order slot has no backoff: 0
  }
  void write_slot(size_t k, std::byte* slot, uint64_t key, ProbBackoff v) const {
    std::memcpy(slot, &key, sizeof key);
    std::memcpy(slot + sizeof key, &v.log10_prob, sizeof(float));
    if (slot_bytes[k] == sizeof(NgramSlot))
      std::memcpy(slot + sizeof key + sizeof(float), &v.log10_backoff, sizeof(float));
  }
  void mark_all(bool value) {
    const uint64_t words = (header().block_count + 63) / 64;
    verified = std::make_unique<std::atomic<uint64_t>[]>(words);
    for (uint64_t w = 0; w < words; ++w) verified[w].store(value ? ~uint64_t{0} : 0, std::memory_order_relaxed);
  }
  bool is_verified(uint64_t b) const {
    return (verified[b >> 6].load(std::memory_order_relaxed) >> (b & 63) & 1) != 0;
  }
  // Verifies the blocks holding the bytes [p, p + bytes) before they are read.
  void touch(const void* p, uint64_t bytes) const {
    const uint64_t at = static_cast<uint64_t>(static_cast<const std::byte*>(p) - data) - blocks_begin;
    for (uint64_t b = at >> kBlockShift; b <= (at + bytes - 1) >> kBlockShift; ++b)
      if (!is_verified(b)) [[unlikely]]
        verify_block(b);
  }
  uint64_t block_begin(uint64_t b) const { return blocks_begin + b * kBlockBytes; }
  uint64_t block_end(uint64_t b) const { return std::min<uint64_t>(block_begin(b) + kBlockBytes, size); }
  bool block_matches(uint64_t b) const {
    return checksum_of(data + block_begin(b), block_end(b) - block_begin(b)) == block_sums()[b];
  }
  void mark_verified(uint64_t b) const { verified[b >> 6].fetch_or(uint64_t{1} << (b & 63), std::memory_order_relaxed); }
  void verify_block(uint64_t b) const {
    KILN_CHECK(block_matches(b), "{}: checksum mismatch at bytes {}..{} (the file is corrupt)", name, block_begin(b),
               block_end(b));
    mark_verified(b);
  }
  // Verifies the blocks in file order on a thread of its own, so that
  // lookups mostly find their blocks already verified instead of reading
  // each whole block on first use. A block that does not match is left for
  // the lookup that reaches it to refuse. Stops when the region goes.
  void verify_in_background() {
    verifier = std::jthread([this](std::stop_token stop) {
      for (uint64_t b = 0; b < header().block_count && !stop.stop_requested(); ++b)
        if (!is_verified(b) && block_matches(b)) mark_verified(b);
    });
  }
  std::jthread verifier;  // last: joined before the bytes it reads go
};

// Builds the tables while the entries arrive (ArpaSink), so that compiling
// an ARPA file holds the tables and not the parsed model besides them. The
// unigrams wait for the vocabulary, which sizes the vocabulary section.
class NgramIndex::Builder final : public ArpaSink {
 public:
  void begin(const std::vector<uint64_t>& counts) override {
    KILN_CHECK(!counts.empty() && counts.size() <= static_cast<size_t>(kMaxOrder), "model order {} is outside 1..{}",
               counts.size(), kMaxOrder);
    counts_ = counts;
  }

  bool add(int n, std::span<const WordId> ngram, float log10_prob, float log10_backoff) override {
    if (n == 1) {
      unigrams_.push_back({ngram[0], {log10_prob, log10_backoff}});
      return true;
    }
    if (n != filling_) start_order(n);
    const uint64_t key = ngram_key(ngram);
    const size_t k = static_cast<size_t>(n) - 1;
    const uint64_t capacity = header_.capacities[k];
    KILN_CHECK(++added_ <= header_.counts[k], "more {}-grams than the {} announced", n, header_.counts[k]);
    const uint64_t home = home_slot(key, capacity);
    uint64_t slot = home;
    for (; Region::key_at(region_->slot_at(k, slot)) != 0; slot = slot + 1 == capacity ? 0 : slot + 1)
      if (Region::key_at(region_->slot_at(k, slot)) == key) return false;
    region_->write_slot(k, const_cast<std::byte*>(region_->slot_at(k, slot)), key, {log10_prob, log10_backoff});
    longest_ = std::max(longest_, slot >= home ? slot - home : slot + capacity - home);
    // lmplz's models are suffix-closed; then a query can stop at the first
    // missing suffix. Others (hand-made, or pruned by other tools) take the
    // longest-match search. Orders arrive ascending, so the suffix's order is complete.
    if (suffix_closed_ && !index_.find(ngram.subspan(1))) suffix_closed_ = false;
    return true;
  }

  void vocabulary(const std::vector<std::string>& vocab) override {
    lay_out(vocab);
    write_vocabulary(vocab);
  }

  NgramIndex finish() {
    finish_order();
    header_.suffix_closed = suffix_closed_ ? 1 : 0;
    std::memcpy(region_->owned.data(), &header_, sizeof header_);
    kbin::seal(region_->owned.data(), region_->size);
    index_.suffix_closed_ = suffix_closed_;
    return std::move(index_);
  }

 private:
  void lay_out(const std::vector<std::string>& vocab) {
    KILN_CHECK(!counts_.empty(), "the n-gram counts must come before the vocabulary");
    Header& h = header_;
    std::memcpy(h.magic, kMagic, 8);
    h.version = kVersion;
    h.order = static_cast<uint32_t>(counts_.size());
    h.vocab_size = vocab.size();
    h.vocab_capacity = capacity_for(h.vocab_size);
    for (const std::string& w : vocab) h.vocab_bytes += w.size();
    uint64_t data_bytes = h.vocab_capacity * sizeof(VocabSlot) + (h.vocab_size + 1) * 8 + align8(h.vocab_bytes);
    for (size_t n = 1; n <= counts_.size(); ++n) {
      h.counts[n - 1] = n == 1 ? unigrams_.size() : counts_[n - 1];
      h.capacities[n - 1] = n == 1 ? h.vocab_size : table_capacity(h.counts[n - 1]);
      data_bytes += h.capacities[n - 1] * kbin::slot_bytes(n, counts_.size());
    }
    h.block_count = kbin::block_count_for(data_bytes);
    const uint64_t size = blocks_at(h) + data_bytes;
    h.file_size = size;
    region_ = std::make_shared<Region>();
    region_->name = "(model in memory)";
    region_->owned.assign(size, std::byte{0});
    region_->data = region_->owned.data();
    region_->size = size;
    region_->blocks_begin = blocks_at(h);
    std::memcpy(region_->owned.data(), &h, sizeof h);
    region_->locate_tables();
    region_->mark_all(true);
    index_.region_ = region_;
    index_.order_ = static_cast<int>(counts_.size());
  }

  void write_vocabulary(const std::vector<std::string>& vocab) {
    Header& h = header_;
    auto* vocab_slots = const_cast<VocabSlot*>(region_->vocab_slots());
    auto* offsets = const_cast<uint64_t*>(region_->vocab_offsets());
    auto* bytes = const_cast<char*>(region_->vocab_bytes());
    // Only words with a unigram are in the vocabulary: a word pruned away
    // (e.g. by --limit-vocab) is out of vocabulary and scores as <unk>.
    std::vector<bool> has_unigram(vocab.size(), false);
    for (const auto& [id, values] : unigrams_) has_unigram[id] = true;
    uint64_t at = 0;
    for (size_t id = 0; id < vocab.size(); ++id) {
      const std::string& w = vocab[id];
      offsets[id] = at;
      std::memcpy(bytes + at, w.data(), w.size());
      at += w.size();
      if (w.empty() || !has_unigram[id]) continue;
      const uint64_t home = string_key(w) & (h.vocab_capacity - 1);
      uint64_t slot = home;
      while (vocab_slots[slot].hash != 0) slot = (slot + 1) & (h.vocab_capacity - 1);
      vocab_slots[slot] = {string_key(w), static_cast<uint32_t>(id), 0};
      h.vocab_max_probe = std::max(h.vocab_max_probe, (slot - home) & (h.vocab_capacity - 1));
    }
    offsets[vocab.size()] = at;
    auto* slots = reinterpret_cast<NgramSlot*>(const_cast<std::byte*>(region_->tables[0]));
    for (const auto& [id, values] : unigrams_) {
      KILN_CHECK(slots[id].key == 0, "duplicate unigram '{}'", vocab[id]);
      const WordId word[1] = {id};
      slots[id] = {ngram_key(word), values};
    }
    unigrams_ = {};
  }

  // Publishes the finished order's longest probe, which lookups of its n-grams need.
  void finish_order() {
    if (filling_ >= 2) header_.max_probe[filling_ - 1] = longest_;
    std::memcpy(region_->owned.data(), &header_, sizeof header_);
    region_->locate_tables();
  }

  void start_order(int n) {
    KILN_CHECK(region_ != nullptr, "the vocabulary must come before the {}-grams", n);
    KILN_CHECK(n > filling_, "the {}-grams must come before the {}-grams", n, filling_);
    finish_order();
    filling_ = n;
    added_ = 0;
    longest_ = 0;
  }

  std::vector<uint64_t> counts_;
  std::vector<std::pair<WordId, ProbBackoff>> unigrams_;
  Header header_{};
  std::shared_ptr<Region> region_;
  NgramIndex index_;
  int filling_ = 0;  // the order being filled (≥ 2); 0 before the first
  uint64_t added_ = 0, longest_ = 0;
  bool suffix_closed_ = true;
};

NgramIndex NgramIndex::build(const BackoffModel& model) {
  std::vector<uint64_t> counts;
  for (const OrderTable& t : model.orders) counts.push_back(t.size());
  Builder builder;
  builder.begin(counts);
  const OrderTable& unigrams = model.orders.at(0);
  for (size_t i = 0; i < unigrams.size(); ++i)
    builder.add(1, unigrams.ngram(i), unigrams.log10_prob[i], unigrams.log10_backoff[i]);
  builder.vocabulary(model.vocab);
  for (size_t n = 2; n <= model.orders.size(); ++n) {
    const OrderTable& t = model.orders[n - 1];
    for (size_t i = 0; i < t.size(); ++i)
      KILN_CHECK(builder.add(static_cast<int>(n), t.ngram(i), t.log10_prob[i], t.log10_backoff[i]),
                 "duplicate {}-gram in the model", n);
  }
  return builder.finish();
}

NgramIndex NgramIndex::from_arpa(const std::filesystem::path& arpa) {
  Builder builder;
  read_arpa(arpa, builder);
  return builder.finish();
}

void NgramIndex::save(const std::filesystem::path& path) const {
  io::AtomicFile file(path);
  file.write(region_->data, region_->size);
  file.commit();
}

NgramIndex NgramIndex::load(const std::filesystem::path& path, Verify verify) {
  io::MappedFile file = io::MappedFile::open(path, false);
  const size_t size = file.size();
  const std::string name = path.string();
  KILN_CHECK(size >= sizeof(Header), "{}: too short to be a kiln n-gram binary ({} bytes)", name, size);
  auto region = std::make_shared<Region>();
  region->name = name;
  region->data = file.data();
  region->size = size;
  region->mapped = std::move(file);
  const Header& h = region->header();
  KILN_CHECK(std::memcmp(h.magic, kMagic, 8) == 0, "{}: not a kiln n-gram binary (bad magic)", name);
  KILN_CHECK(h.version == kVersion, "{}: binary format version {}, this kiln reads version {} (compile it again)",
             name, h.version, kVersion);
  KILN_CHECK(h.file_size == size, "{}: truncated or padded: header says {} bytes, the file has {}", name, h.file_size,
             size);
  KILN_CHECK(h.order >= 1 && h.order <= kMaxOrder && h.suffix_closed <= 1 && h.block_count < (uint64_t{1} << 40) &&
                 sizeof(Header) + h.block_count * 8 <= size,
             "{}: corrupt header", name);
  KILN_CHECK(kbin::head_checksum_of(region->data) == h.head_checksum, "{}: checksum mismatch (the file is corrupt)",
             name);
  // The checksums only prove the bytes are the ones written; the geometry
  // must also be self-consistent before any pointer into the file is formed.
  auto power_of_two = [](uint64_t x) { return x >= 16 && (x & (x - 1)) == 0; };  // the vocabulary's capacity
  bool consistent = power_of_two(h.vocab_capacity) && h.vocab_capacity < (uint64_t{1} << 40) &&
                    h.vocab_size < h.vocab_capacity && h.vocab_size >= 3 && h.vocab_bytes < (uint64_t{1} << 40) &&
                    h.vocab_max_probe < h.vocab_capacity;
  uint64_t expected = consistent ? kbin::tables_at(h) : 0;
  consistent = consistent && h.capacities[0] == h.vocab_size && h.counts[0] <= h.vocab_size && h.max_probe[0] == 0;
  for (uint32_t n = 0; n < h.order && consistent; ++n) {
    consistent = (n == 0 || h.counts[n] < h.capacities[n]) && h.capacities[n] < (uint64_t{1} << 40) &&
                 h.max_probe[n] < h.capacities[n];
    expected += h.capacities[n] * kbin::slot_bytes(n + 1, h.order);
  }
  consistent = consistent && expected == size && h.block_count == kbin::block_count_for(size - blocks_at(h));
  KILN_CHECK(consistent, "{}: corrupt header (section sizes do not add up)", name);
  region->blocks_begin = blocks_at(h);
  region->locate_tables();
  const bool full = verify == Verify::full || (verify == Verify::automatic && size <= kFullVerifyBytes);
  region->mark_all(false);
  NgramIndex index;
  index.order_ = static_cast<int>(h.order);
  index.suffix_closed_ = h.suffix_closed == 1;
  if (!full) {
    if (verify != Verify::lazy) region->verify_in_background();
    index.region_ = std::move(region);
    return index;
  }
  for (uint64_t b = 0; b < h.block_count; ++b) region->verify_block(b);
  const uint64_t* offsets = region->vocab_offsets();
  for (uint64_t i = 0; i < h.vocab_size; ++i)
    KILN_CHECK(offsets[i] <= offsets[i + 1] && offsets[i + 1] <= h.vocab_bytes, "{}: corrupt vocabulary", name);
  for (uint64_t i = 0; i < h.vocab_capacity; ++i)
    KILN_CHECK(region->vocab_slots()[i].hash == 0 || region->vocab_slots()[i].id < h.vocab_size,
               "{}: corrupt vocabulary index", name);
  // Every probe sequence ends at an empty slot (or after max_probe slots):
  // a table with too few empty slots was not written by kiln.
  uint64_t vocab_used = 0;
  for (uint64_t i = 0; i < h.vocab_capacity; ++i) vocab_used += region->vocab_slots()[i].hash != 0;
  KILN_CHECK(vocab_used <= h.vocab_size, "{}: corrupt vocabulary index ({} slots used for {} words)", name,
             vocab_used, h.vocab_size);
  for (uint32_t n = 1; n <= h.order; ++n) {
    uint64_t used = 0;
    for (uint64_t i = 0; i < h.capacities[n - 1]; ++i) used += Region::key_at(region->slot_at(n - 1, i)) != 0;
    KILN_CHECK(used <= h.counts[n - 1], "{}: corrupt {}-gram table ({} slots used for {} n-grams)", name, n, used,
               h.counts[n - 1]);
  }
  index.region_ = std::move(region);
  return index;
}

size_t NgramIndex::vocab_size() const { return region_->header().vocab_size; }

std::optional<WordId> NgramIndex::word_id(std::string_view word) const { return find_word(word, string_key(word)); }

void NgramIndex::word_ids(std::span<const std::string_view> words, WordId* ids) const {
  const uint64_t mask = region_->header().vocab_capacity - 1;
  const VocabSlot* slots = region_->vocab_slots();
  constexpr size_t kBatch = 16;
  std::array<uint64_t, kBatch> keys;
  for (size_t at = 0; at < words.size(); at += kBatch) {
    const size_t count = std::min(kBatch, words.size() - at);
    for (size_t i = 0; i < count; ++i) {
      keys[i] = string_key(words[at + i]);
      __builtin_prefetch(slots + (keys[i] & mask));
    }
    for (size_t i = 0; i < count; ++i) ids[at + i] = find_word(words[at + i], keys[i]).value_or(kUnk);
  }
}

std::optional<WordId> NgramIndex::find_word(std::string_view word, uint64_t key) const {
  const Header& h = region_->header();
  const uint64_t mask = h.vocab_capacity - 1;
  const VocabSlot* slots = region_->vocab_slots();
  uint64_t slot = key & mask;
  for (uint64_t step = 0; step <= h.vocab_max_probe; ++step, slot = (slot + 1) & mask) {
    region_->touch(slots + slot, sizeof(VocabSlot));
    if (slots[slot].hash == 0) break;
    if (slots[slot].hash == key) {
      const WordId id = slots[slot].id;
      KILN_CHECK(id < h.vocab_size, "{}: corrupt vocabulary index", region_->name);
      const uint64_t* offsets = region_->vocab_offsets();
      region_->touch(offsets + id, 16);
      const uint64_t begin = offsets[id], end = offsets[id + 1];
      KILN_CHECK(begin <= end && end <= h.vocab_bytes, "{}: corrupt vocabulary", region_->name);
      if (end - begin != word.size()) continue;
      if (word.empty()) return id;
      region_->touch(region_->vocab_bytes() + begin, end - begin);
      if (std::memcmp(region_->vocab_bytes() + begin, word.data(), word.size()) == 0) return id;
    }
  }
  return std::nullopt;
}

std::string_view NgramIndex::word(WordId id) const {
  const Header& h = region_->header();
  KILN_CHECK(id < h.vocab_size, "word id {} is outside the vocabulary of {} words", id, h.vocab_size);
  const uint64_t* offsets = region_->vocab_offsets();
  region_->touch(offsets + id, 16);
  const uint64_t begin = offsets[id], end = offsets[id + 1];
  KILN_CHECK(begin <= end && end <= h.vocab_bytes, "{}: corrupt vocabulary", region_->name);
  if (begin == end) return {};
  region_->touch(region_->vocab_bytes() + begin, end - begin);
  return {region_->vocab_bytes() + begin, end - begin};
}

std::pair<uint64_t, uint64_t> NgramIndex::verified_blocks() const {
  const uint64_t count = region_->header().block_count;
  uint64_t done = 0;
  for (uint64_t b = 0; b < count; ++b) done += region_->is_verified(b);
  return {done, count};
}

std::optional<ProbBackoff> NgramIndex::find(std::span<const WordId> ngram) const {
  const int n = static_cast<int>(ngram.size());
  if (n < 1 || n > order()) return std::nullopt;
  if (n == 1) {
    const ProbBackoff* entry = unigram(ngram[0]);
    return entry != nullptr ? std::optional<ProbBackoff>(*entry) : std::nullopt;
  }
  return find_key(n, ngram_key(ngram));
}

std::optional<ProbBackoff> NgramIndex::find_chain(int n, uint64_t chain) const {
  if (n < 2 || n > order()) return std::nullopt;
  return find_key(n, stored_key(chain));
}

const ProbBackoff* NgramIndex::unigram(WordId id) const {
  if (id >= region_->capacities[0]) return nullptr;
  const NgramSlot* slot = reinterpret_cast<const NgramSlot*>(region_->tables[0]) + id;
  region_->touch(slot, sizeof(NgramSlot));
  return slot->key != 0 ? &slot->value : nullptr;
}

int NgramIndex::match_suffix_closed(WordId word, const uint64_t* chains, int longest, float& log10_prob,
                                    float* backoffs) const {
  const ProbBackoff* entry = unigram(word);
  if (entry == nullptr || longest < 1) return 0;
  log10_prob = entry->log10_prob;
  backoffs[0] = entry->log10_backoff;
  longest = std::min(longest, order());
  int matched = 1;
  for (int m = 2; m <= longest; ++m) {
    const std::optional<ProbBackoff> found = find_key(m, stored_key(chains[m - 1]));
    if (!found) break;
    matched = m;
    log10_prob = found->log10_prob;
    backoffs[m - 1] = found->log10_backoff;
  }
  return matched;
}

void NgramIndex::prefetch_chains(WordId word, const uint64_t* chains, int longest) const {
  if (word < region_->capacities[0]) __builtin_prefetch(region_->tables[0] + word);
  longest = std::min(longest, order());
  for (int m = 2; m <= longest; ++m) {
    const size_t k = static_cast<size_t>(m) - 1;
    __builtin_prefetch(region_->slot_at(k, home_slot(stored_key(chains[k]), region_->capacities[k])));
  }
}

std::optional<ProbBackoff> NgramIndex::find_key(int n, uint64_t key) const {
  const size_t k = static_cast<size_t>(n) - 1;
  const uint64_t capacity = region_->capacities[k], longest = region_->max_probe[k];
  uint64_t slot = home_slot(key, capacity);
  for (uint64_t step = 0; step <= longest; ++step, slot = slot + 1 == capacity ? 0 : slot + 1) {
    const std::byte* at = region_->slot_at(k, slot);
    region_->touch(at, region_->slot_bytes[k]);
    const uint64_t stored = Region::key_at(at);
    if (stored == key) return region_->values_at(k, at);
    if (stored == 0) return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace kiln::ngram
