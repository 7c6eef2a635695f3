#pragma once
// A read-only memory map of a whole file, unmapped when the last owner goes.
#include <cstddef>
#include <filesystem>
#include <memory>

namespace kiln::io {

class MappedFile {
 public:
  // populate: fault every page in now (one sequential read) rather than on first use.
  static MappedFile open(const std::filesystem::path& path, bool populate = false);
  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  struct Mapping;
  std::shared_ptr<const Mapping> mapping_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace kiln::io
