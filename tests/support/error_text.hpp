#pragma once
// What a test of a refusal reads: the one-line message of the kiln::Error a
// callable throws. Any other exception escapes and fails the test.
#include <string>
#include <utility>

#include "kiln/base/error.hpp"

namespace kiln::testing {

// The message of the kiln::Error that `f` throws, or "(no error)".
template <typename F>
std::string error_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const kiln::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace kiln::testing
