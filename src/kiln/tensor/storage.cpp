#include "kiln/tensor/storage.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace kiln {

namespace {
constexpr size_t kAlignment = 64;
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

void Storage::FreeDeleter::operator()(std::byte* p) const { std::free(p); }

Storage::Storage(size_t bytes) : bytes_(bytes) {
  const size_t alignment = bytes >= kHugePage ? kHugePage : kAlignment;
  const size_t rounded = (std::max<size_t>(bytes, 1) + alignment - 1) / alignment * alignment;
  auto* p = static_cast<std::byte*>(std::aligned_alloc(alignment, rounded));
  if (p == nullptr) throw std::bad_alloc();
  if (alignment == kHugePage) madvise(p, rounded, MADV_HUGEPAGE);
  data_.reset(p);
}

}  // namespace kiln
