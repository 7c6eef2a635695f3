#pragma once
// One exception type for every recoverable failure in kiln. The message is
// complete on its own (it names the file, line, tensor shape, config key...),
// so the command line can print it as a single line and exit non-zero.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace kiln {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace kiln

// Checks a condition that depends on user input or API use; on failure throws
// kiln::Error with the formatted message.
#define KILN_CHECK(condition, ...)          \
  do {                                      \
    if (!(condition)) ::kiln::fail(__VA_ARGS__); \
  } while (false)
