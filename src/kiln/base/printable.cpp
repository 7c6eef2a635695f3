#include "kiln/base/printable.hpp"

#include <fmt/format.h>

namespace kiln {

std::string printable(std::string_view bytes, size_t limit) {
  std::string out;
  const size_t shown = std::min(bytes.size(), limit);
  out.reserve(shown + 8);
  for (size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\\') out += "\\\\";
    else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  if (bytes.size() > limit) out += "…";
  return out;
}

}  // namespace kiln
