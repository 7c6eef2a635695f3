// Input paths checked before reading: every kind of non-file is one line
// naming the option, never a filesystem exception.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "kiln/base/error.hpp"
#include "kiln/io/input_file.hpp"

namespace kiln::io {
namespace {

namespace fs = std::filesystem;

std::string error_of(const fs::path& path) {
  try {
    check_input_file(path, "data.train");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(InputFile, OnlyAnExistingRegularFilePasses) {
  const fs::path dir = fs::temp_directory_path() / ("kiln_input_file_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "corpus.txt") << "in the beginning\n";
  EXPECT_EQ(error_of(dir / "corpus.txt"), "");
  EXPECT_NE(error_of(dir).find("is a directory, not a file"), std::string::npos);
  EXPECT_NE(error_of("/dev/null").find("not a regular file"), std::string::npos);
  EXPECT_NE(error_of(dir / "missing.txt").find("does not exist"), std::string::npos);
  EXPECT_NE(error_of("").find("no file given"), std::string::npos);
  const std::string long_name = error_of(dir / std::string(5000, 'a'));
  EXPECT_NE(long_name.find("File name too long"), std::string::npos) << long_name;
  EXPECT_LT(long_name.size(), 300u) << "the name is cut";
  EXPECT_NE(error_of(dir / "a\x1b[2Jb").find("a\\x1b[2Jb"), std::string::npos) << "control bytes escaped";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln::io
