#include "kiln/io/input_file.hpp"

#include <system_error>

#include "kiln/base/error.hpp"
#include "kiln/base/printable.hpp"

namespace kiln::io {

namespace fs = std::filesystem;

void check_input_file(const fs::path& path, const std::string& what) {
  const std::string shown = printable(path.string());
  KILN_CHECK(!path.empty(), "{}: no file given", what);
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (error && error != std::errc::no_such_file_or_directory)
    fail("{}: '{}': {}", what, shown, error.message());
  KILN_CHECK(fs::exists(status), "{}: '{}' does not exist", what, shown);
  KILN_CHECK(!fs::is_directory(status), "{}: '{}' is a directory, not a file", what, shown);
  KILN_CHECK(fs::is_regular_file(status), "{}: '{}' is not a regular file (a device or a pipe)", what, shown);
}

}  // namespace kiln::io
