#include "kiln/io/atomic_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kiln/base/error.hpp"

namespace kiln::io {

AtomicFile::AtomicFile(std::filesystem::path path) : path_(std::move(path)) {
  temporary_ = path_;
  temporary_ += fmt::format(".tmp.{}", ::getpid());
  file_.reset(std::fopen(temporary_.c_str(), "wb"));
  KILN_CHECK(file_ != nullptr, "{}: cannot create: {}", path_.string(), std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  file_.reset();
  std::error_code ignored;
  std::filesystem::remove(temporary_, ignored);
}

void AtomicFile::write(const void* data, size_t bytes) {
  KILN_CHECK(std::fwrite(data, 1, bytes, file_.get()) == bytes, "{}: write failed: {}", path_.string(),
             std::strerror(errno));
}

void AtomicFile::commit() {
  KILN_CHECK(std::fflush(file_.get()) == 0 && ::fsync(::fileno(file_.get())) == 0, "{}: write failed: {}",
             path_.string(), std::strerror(errno));
  file_.reset();
  std::error_code error;
  std::filesystem::rename(temporary_, path_, error);
  KILN_CHECK(!error, "{}: cannot move into place: {}", path_.string(), error.message());
  committed_ = true;
}

}  // namespace kiln::io
