#include "kiln/io/atomic_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kiln/base/error.hpp"

namespace kiln::io {

AtomicFile::AtomicFile(std::filesystem::path path) : path_(std::move(path)) {
  // A device or a pipe (/dev/null, /dev/stdout) is written in place: renaming
  // a file over it would replace the device itself.
  std::error_code error;
  const auto status = std::filesystem::status(path_, error);
  in_place_ = !error && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status) &&
              !std::filesystem::is_directory(status);
  if (in_place_) {
    file_.reset(std::fopen(path_.c_str(), "wb"));
    KILN_CHECK(file_ != nullptr, "{}: cannot open for writing: {}", path_.string(), std::strerror(errno));
    return;
  }
  temporary_ = path_;
  temporary_ += fmt::format(".tmp.{}", ::getpid());
  file_.reset(std::fopen(temporary_.c_str(), "wb"));
  KILN_CHECK(file_ != nullptr, "{}: cannot create: {}", path_.string(), std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (committed_ || in_place_) return;
  file_.reset();
  std::error_code ignored;
  std::filesystem::remove(temporary_, ignored);
}

void AtomicFile::write(const void* data, size_t bytes) {
  KILN_CHECK(std::fwrite(data, 1, bytes, file_.get()) == bytes, "{}: write failed: {}", path_.string(),
             std::strerror(errno));
}

void AtomicFile::commit() {
  if (in_place_) {
    KILN_CHECK(std::fflush(file_.get()) == 0, "{}: write failed: {}", path_.string(), std::strerror(errno));
    file_.reset();
    committed_ = true;
    return;
  }
  KILN_CHECK(std::fflush(file_.get()) == 0 && ::fsync(::fileno(file_.get())) == 0, "{}: write failed: {}",
             path_.string(), std::strerror(errno));
  file_.reset();
  std::error_code error;
  std::filesystem::rename(temporary_, path_, error);
  KILN_CHECK(!error, "{}: cannot move into place: {}", path_.string(), error.message());
  committed_ = true;
}

}  // namespace kiln::io
