#include "jpeg_huffman_check.hpp"

#include <fmt/format.h>

namespace kiln::data {

namespace {

constexpr uint8_t kMarker = 0xFF, kStartOfImage = 0xD8, kEndOfImage = 0xD9, kStartOfScan = 0xDA,
                  kHuffmanTables = 0xC4;

class JpegReader {
 public:
  explicit JpegReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  bool at_end() const { return at_ >= bytes_.size(); }
  size_t position() const { return at_; }
  void seek(size_t at) { at_ = at; }
  uint8_t next() { return at_ < bytes_.size() ? bytes_[at_++] : (++at_, uint8_t{0}); }
  unsigned next16() {
    const unsigned high = next();
    return (high << 8) | next();
  }

  // The next marker after junk and fill bytes, as stbi__get_marker finds it.
  uint8_t next_marker() {
    while (!at_end())
      if (next() == kMarker) {
        uint8_t m = next();
        while (m == kMarker && !at_end()) m = next();
        return m;
      }
    return kEndOfImage;
  }

  // Past the entropy-coded data of a scan: the first marker that is not a
  // stuffed zero or a restart marker.
  uint8_t marker_after_scan() {
    while (!at_end()) {
      if (next() != kMarker) continue;
      uint8_t m = next();
      while (m == kMarker && !at_end()) m = next();
      if (m != 0x00 && (m < 0xD0 || m > 0xD7)) return m;
    }
    return kEndOfImage;
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t at_ = 0;
};

// One DHT segment read as stbi__process_marker reads it.
std::optional<std::string> check_huffman_segment(JpegReader& in) {
  long remaining = static_cast<long>(in.next16()) - 2;
  while (remaining > 0) {
    const uint8_t table = in.next();
    if ((table >> 4) > 1 || (table & 15) > 3) return std::nullopt;  // stb_image stops: "bad DHT header"
    long codes = 0;
    for (int length = 0; length < 16; ++length) codes += in.next();
    if (codes > 256)
      return fmt::format("corrupt JPEG: a Huffman table at byte {} declares {} codes, more than 256",
                         in.position() - 17, codes);
    for (long k = 0; k < codes; ++k) in.next();
    remaining -= 17 + codes;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> jpeg_huffman_defect(std::span<const uint8_t> bytes) {
  // stb_image takes any number of fill bytes before the start-of-image marker.
  size_t start = 0;
  while (start < bytes.size() && bytes[start] == kMarker) ++start;
  if (start == 0 || start >= bytes.size() || bytes[start] != kStartOfImage) return std::nullopt;
  JpegReader in(bytes);
  in.seek(start + 1);
  uint8_t marker = in.next_marker();
  while (!in.at_end() && marker != kEndOfImage) {
    if (marker == kHuffmanTables) {
      if (auto defect = check_huffman_segment(in)) return defect;
      marker = in.next_marker();
      continue;
    }
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length field
      marker = in.next_marker();
      continue;
    }
    const size_t start = in.position();
    const unsigned length = in.next16();
    in.seek(start + length);
    marker = marker == kStartOfScan ? in.marker_after_scan() : in.next_marker();
  }
  return std::nullopt;
}

}  // namespace kiln::data
