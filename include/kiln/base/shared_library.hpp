#pragma once
// A shared library opened when it is first needed rather than linked: every
// library kiln links is loaded and relocated at each start, whatever the
// command (about 1 ms for libsndfile and its codecs), while most commands
// never use it.
#include <dlfcn.h>

#include <memory>

namespace kiln {

class SharedLibrary {
 public:
  explicit SharedLibrary(const char* soname, int flags = RTLD_NOW | RTLD_LOCAL) : handle_(::dlopen(soname, flags)) {}
  bool loaded() const { return handle_ != nullptr; }
  // Points `function` at the library's symbol `name`; false when it is missing.
  template <typename Function>
  bool bind(Function& function, const char* name) const {
    function = handle_ ? reinterpret_cast<Function>(::dlsym(handle_.get(), name)) : nullptr;
    return function != nullptr;
  }
  void close() { handle_.reset(); }

 private:
  struct Closer {
    void operator()(void* handle) const { ::dlclose(handle); }
  };
  std::unique_ptr<void, Closer> handle_;
};

}  // namespace kiln
