#include "kiln/io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kiln/base/error.hpp"

namespace kiln::io {

struct MappedFile::Mapping {
  void* address = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (address != nullptr && address != MAP_FAILED) munmap(address, size);
  }
};

MappedFile MappedFile::open(const std::filesystem::path& path, bool populate) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  KILN_CHECK(fd >= 0, "{}: cannot open: {}", path.string(), std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail("{}: cannot stat", path.string());
  }
  MappedFile file;
  file.size_ = static_cast<size_t>(st.st_size);
  if (file.size_ == 0) {
    ::close(fd);
    return file;
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = file.size_;
  mapping->address = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, 0);
  ::close(fd);
  KILN_CHECK(mapping->address != MAP_FAILED, "{}: cannot map: {}", path.string(), std::strerror(errno));
  file.data_ = static_cast<const std::byte*>(mapping->address);
  file.mapping_ = std::move(mapping);
  return file;
}

}  // namespace kiln::io
