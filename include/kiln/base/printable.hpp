#pragma once
// Untrusted bytes (a field of a corrupt file, a path from a config) as they
// may appear in a one-line message: control bytes and bytes outside ASCII
// escaped as \xNN, cut after `limit` bytes of input with "…", so a message
// stays one short line whatever the file held.
#include <cstddef>
#include <string>
#include <string_view>

namespace kiln {

std::string printable(std::string_view bytes, size_t limit = 80);

}  // namespace kiln
