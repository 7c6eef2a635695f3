#pragma once
// One line of text drawn with stb_truetype (Debian's libstb-dev, v1.26) into
// a planar image, as SPEC-VLM §7.2 renders the KJV OCR lines:
//  - scale = stbtt_ScaleForPixelHeight(px) = px / (ascent − descent);
//  - the pen starts at 0 and advances by advance·scale + kern·scale
//    (stbtt_GetCodepointHMetrics, stbtt_GetCodepointKernAdvance with the next
//    character), summed in float in text order;
//  - each glyph is rasterised by stbtt_MakeCodepointBitmapSubpixel at the
//    fractional part of its x = mh + pen, so glyphs sit at their exact
//    positions, not snapped to whole pixels;
//  - the baseline is at mv + round(ascent·scale); glyph coverage (0–255 → 0–1)
//    is combined with `max` onto a background of 0, so ink is 1.0 and
//    overlapping glyphs do not add up past it;
//  - the canvas is Hc = roundup(px + 2mv, 8) high and Wc = roundup(⌈pen⌉ + 2mh, 8)
//    wide; ink that falls outside it is clipped.
// Text is UTF-8; a character the font has no glyph for is an error.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/data/planar_image.hpp"
#include "kiln/data/vision_tokens.hpp"

namespace kiln::data {

inline constexpr std::string_view kDejaVuSansPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

// Where a line goes on its canvas, in pixels.
struct LineStyle {
  int64_t pixel_height = 15;  // px: ascender top to descender bottom
  int64_t margin_y = 0;       // mv, above and below
  int64_t margin_x = 0;       // mh, left and right
  int64_t canvas_multiple = 8;  // both canvas sides are rounded up to a multiple of this
};

// The font's vertical metrics in font units (hhea table).
struct FontVerticalMetrics {
  int ascent = 0, descent = 0, line_gap = 0;
};

class TextRenderer {
 public:
  // Reads the TrueType font at `font`. `owner` starts every error message
  // ("kjv-ocr: …/DejaVuSans.ttf missing (apt-get install fonts-dejavu-core)").
  explicit TextRenderer(const std::filesystem::path& font = kDejaVuSansPath, std::string owner = "text renderer");
  ~TextRenderer();
  TextRenderer(TextRenderer&&) noexcept;
  TextRenderer& operator=(TextRenderer&&) noexcept;

  FontVerticalMetrics vertical_metrics() const;
  // The pen position after the whole text at `pixel_height`, in pixels.
  float pen_advance(std::string_view text, int64_t pixel_height) const;
  // The canvas (Hc, Wc) the line gets.
  ImageSize line_size(std::string_view text, const LineStyle& style) const;
  // A one-channel image, ink 1.0 on 0.
  PlanarImage render_line(std::string_view text, const LineStyle& style) const;

 private:
  struct Font;
  std::vector<char32_t> codepoints(std::string_view text) const;
  void check_style(const LineStyle& style) const;

  std::string owner_;
  std::unique_ptr<Font> font_;
};

}  // namespace kiln::data
