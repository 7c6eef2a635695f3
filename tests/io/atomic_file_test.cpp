// AtomicFile: complete or absent at its path, and a device stays a device.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "kiln/io/atomic_file.hpp"

namespace kiln::io {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kiln_atomic_file_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(AtomicFileTest, AppearsOnlyWhenCommitted) {
  const fs::path path = dir_ / "out.txt";
  {
    AtomicFile file(path);
    file.write("abc", 3);
    EXPECT_FALSE(fs::exists(path));
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(fs::is_empty(dir_));  // the temporary went with it
  AtomicFile file(path);
  file.write("abc", 3);
  file.commit();
  std::ifstream in(path);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "abc");
}

// A pipe stands for /dev/null and /dev/stdout: renaming a file over it would
// replace it (a regression here must not be able to break the machine's /dev/null).
TEST_F(AtomicFileTest, WritesAPipeInPlace) {
  const fs::path pipe = dir_ / "pipe";
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  // A reader first, so that opening the pipe for writing does not wait.
  const int reader = ::open(pipe.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  {
    AtomicFile file(pipe);
    file.write("abc\n", 4);
    file.commit();
  }
  char received[8] = {};
  const ssize_t n = ::read(reader, received, sizeof received);
  ::close(reader);
  EXPECT_EQ(n, 4);
  EXPECT_STREQ(received, "abc\n");
  EXPECT_TRUE(fs::is_fifo(pipe));
  EXPECT_FALSE(fs::exists(pipe.string() + ".tmp." + std::to_string(::getpid())));
}

}  // namespace
}  // namespace kiln::io
