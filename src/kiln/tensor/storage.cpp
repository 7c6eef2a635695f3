#include "kiln/tensor/storage.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <new>
#include <stdexcept>

namespace kiln {

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kPage = 4096;

size_t block_size(size_t bytes) {
  bytes = std::max<size_t>(bytes, 1);
  if (bytes >= kHugePage) return (bytes + kHugePage - 1) / kHugePage * kHugePage;
  if (bytes >= kPage) return (bytes + kPage - 1) / kPage * kPage;
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

// Free blocks by size. A request takes the smallest cached block that fits
// without wasting more than a quarter of it.
class BlockPool {
 public:
  ~BlockPool() { release(); }

  std::byte* take(size_t capacity) {
    auto it = free_.lower_bound(capacity);
    if (it != free_.end() && it->first <= capacity + capacity / 4) {
      std::byte* p = it->second;
      stats_.cached_bytes -= static_cast<int64_t>(it->first);
      free_.erase(it);
      return p;
    }
    ++stats_.fresh_allocations;
    const size_t alignment = capacity >= kHugePage ? kHugePage : kAlignment;
    auto* p = static_cast<std::byte*>(std::aligned_alloc(alignment, capacity));
    if (p == nullptr) {
      release();  // one retry after giving back the cache
      p = static_cast<std::byte*>(std::aligned_alloc(alignment, capacity));
      if (p == nullptr) throw std::bad_alloc();
    }
    if (alignment == kHugePage) madvise(p, capacity, MADV_HUGEPAGE);
    return p;
  }

  void give_back(std::byte* p, size_t capacity) {
    free_.emplace(capacity, p);
    stats_.cached_bytes += static_cast<int64_t>(capacity);
  }

  void release() {
    for (auto& [size, p] : free_) std::free(p);
    free_.clear();
    stats_.cached_bytes = 0;
  }

  void on_live_change(int64_t delta) {
    stats_.live_bytes += delta;
    stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.live_bytes);
  }

  MemoryStats& stats() { return stats_; }

 private:
  std::multimap<size_t, std::byte*> free_;
  MemoryStats stats_;
};

// Per thread so that no lock is taken on the hot path; a block freed on
// another thread simply joins that thread's cache. Tensors that outlive their
// thread's pool (statics destroyed after thread-locals at exit) fall back to
// plain malloc/free: the flag is trivially destructible, so it stays readable.
thread_local bool pool_destroyed = false;

struct PoolOwner {
  BlockPool pool;
  ~PoolOwner() { pool_destroyed = true; }
};

BlockPool* pool_or_null() {
  if (pool_destroyed) return nullptr;
  thread_local PoolOwner owner;
  return &owner.pool;
}

BlockPool& pool() {
  BlockPool* p = pool_or_null();
  if (p == nullptr) throw std::logic_error("tensor memory pool used after its thread ended");
  return *p;
}

}  // namespace

Storage::Storage(size_t bytes) : bytes_(bytes), capacity_(block_size(bytes)) {
  if (BlockPool* p = pool_or_null()) {
    data_ = p->take(capacity_);
    p->on_live_change(static_cast<int64_t>(capacity_));
    return;
  }
  data_ = static_cast<std::byte*>(std::aligned_alloc(kAlignment, capacity_));
  if (data_ == nullptr) throw std::bad_alloc();
}

Storage::~Storage() {
  if (BlockPool* p = pool_or_null()) {
    p->on_live_change(-static_cast<int64_t>(capacity_));
    p->give_back(data_, capacity_);
    return;
  }
  std::free(data_);
}

MemoryStats memory_stats() { return pool().stats(); }

void reset_peak_memory() { pool().stats().peak_bytes = pool().stats().live_bytes; }

void release_cached_memory() { pool().release(); }

}  // namespace kiln
