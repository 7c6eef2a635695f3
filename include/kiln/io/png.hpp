#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

namespace kiln::io {

// Writes 8-bit RGB pixels (row-major, 3 bytes each) as a PNG, atomically.
void write_png(const std::filesystem::path& path, int width, int height, const std::vector<uint8_t>& rgb);

}  // namespace kiln::io
