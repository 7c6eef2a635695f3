#pragma once
// A flat, aligned byte buffer shared by a tensor and its views.
//
// Buffers come from a per-thread caching pool: a training step allocates the
// same sizes every step, so after the first step every activation and
// gradient reuses a block that is already mapped. On our machines a fresh
// 4 KiB page costs ~10 µs to fault in, which is what PyTorch pays when glibc
// returns its temporaries to the kernel. Large blocks are 2 MiB aligned and
// advised as transparent huge pages.
#include <cstddef>
#include <cstdint>
#include <map>

namespace kiln {

struct MemoryStats {
  int64_t live_bytes = 0;    // held by tensors now
  int64_t peak_bytes = 0;    // maximum of live_bytes since the last reset
  int64_t cached_bytes = 0;  // free blocks kept for reuse
  int64_t fresh_allocations = 0;  // requests the pool could not serve
};

class Storage {
 public:
  explicit Storage(size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  std::byte* data() { return data_; }
  const std::byte* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  std::byte* data_ = nullptr;
  size_t bytes_ = 0;     // requested
  size_t capacity_ = 0;  // block size actually held
};

// Statistics of the calling thread's pool (instrumentation for tests and
// benchmarks: activation memory, allocation counts).
MemoryStats memory_stats();
void reset_peak_memory();
// Returns every cached block of the calling thread's pool to the system.
void release_cached_memory();

}  // namespace kiln
