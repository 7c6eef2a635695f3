#pragma once
// A flat, 64-byte aligned byte buffer shared by a tensor and its views.
// Large buffers ask for transparent huge pages: a fresh 4 KiB page costs
// ~10 µs to fault in on our machines, a huge page ~50× less per byte.
#include <cstddef>
#include <memory>

namespace kiln {

class Storage {
 public:
  explicit Storage(size_t bytes);
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  std::byte* data() { return data_.get(); }
  const std::byte* data() const { return data_.get(); }
  size_t bytes() const { return bytes_; }

 private:
  struct FreeDeleter {
    void operator()(std::byte* p) const;
  };
  std::unique_ptr<std::byte, FreeDeleter> data_;
  size_t bytes_ = 0;
};

}  // namespace kiln
