#pragma once
// Debian 12's stb_image (2.27) writes past its Huffman size table when a JPEG
// DHT segment declares more than 256 codes: stbi__build_huffman fills one
// entry per code into a 257-entry array before anything checks the count
// (stb_image 2.28 added the check). kiln refuses such files before stb_image
// sees them. The walk follows stb_image's own reading of the segments
// (bytes past the end read as 0, as stbi__get8 reads them), so every table
// stb_image would build is checked.
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace kiln::data {

// Why stb_image must not decode `bytes`, or nothing when the file is not a
// JPEG or has no such table.
std::optional<std::string> jpeg_huffman_defect(std::span<const uint8_t> bytes);

}  // namespace kiln::data
