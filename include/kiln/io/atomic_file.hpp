#pragma once
// A file that appears at its path complete or not at all: bytes go to a
// temporary file in the same directory, which commit() renames into place.
// Destroyed without commit (an error, an exception), it removes the temporary.
// A path that is a device or a pipe (/dev/null, /dev/stdout) is written in
// place instead.
#include <cstdio>
#include <filesystem>
#include <memory>

namespace kiln::io {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void commit();
  std::FILE* handle() { return file_.get(); }

 private:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::filesystem::path path_, temporary_;
  std::unique_ptr<std::FILE, Closer> file_;
  bool committed_ = false;
  bool in_place_ = false;  // a device or pipe, written directly
};

}  // namespace kiln::io
