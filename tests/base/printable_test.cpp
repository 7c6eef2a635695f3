// Untrusted bytes in messages: escaped, cut, and plain text left alone.
#include <gtest/gtest.h>

#include <string>

#include "kiln/base/printable.hpp"

namespace kiln {
namespace {

TEST(Printable, EscapesControlAndNonAsciiBytesAndCutsLongInput) {
  EXPECT_EQ(printable("data/kjv/train.txt"), "data/kjv/train.txt");
  EXPECT_EQ(printable(std::string("a\x1b[31mb\nc\0d", 11)), "a\\x1b[31mb\\x0ac\\x00d");
  EXPECT_EQ(printable("back\\slash"), "back\\\\slash");
  EXPECT_EQ(printable("\xc3\xa9"), "\\xc3\\xa9");
  EXPECT_EQ(printable(std::string(100, 'x'), 80), std::string(80, 'x') + "…");
  EXPECT_EQ(printable(std::string(80, 'x'), 80), std::string(80, 'x'));
  EXPECT_EQ(printable(""), "");
}

}  // namespace
}  // namespace kiln
