#include "kiln/data/text_renderer.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <utility>

#include "kiln/base/error.hpp"

// stb_truetype compiled into this file alone (static functions); its own
// code is not held to our warnings.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_TRUETYPE_IMPLEMENTATION
#define STBTT_STATIC
#include <stb/stb_truetype.h>
#pragma GCC diagnostic pop

namespace kiln::data {

namespace fs = std::filesystem;

struct TextRenderer::Font {
  std::vector<unsigned char> bytes;  // stbtt_fontinfo points into these
  stbtt_fontinfo info{};
};

namespace {

int64_t round_up(int64_t x, int64_t multiple) { return (x + multiple - 1) / multiple * multiple; }

// The bytes of `path`, or a one-line error with the package to install.
std::vector<unsigned char> read_font_file(const fs::path& path, const std::string& owner) {
  const bool bundled = path.filename() == fs::path(kDejaVuSansPath).filename();
  KILN_CHECK(fs::is_regular_file(path), "{}: {} missing{}", owner, path.string(),
             bundled ? " (apt-get install fonts-dejavu-core)" : "");
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "{}: cannot open {}", owner, path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Decodes UTF-8, refusing malformed sequences (overlong forms, surrogates and
// code points past U+10FFFF included).
std::vector<char32_t> decode_utf8(std::string_view text, const std::string& owner) {
  std::vector<char32_t> out;
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const int length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    KILN_CHECK(length > 0 && i + static_cast<size_t>(length) <= text.size(),
               "{}: invalid UTF-8 at byte {} of \"{}\"", owner, i, text);
    char32_t cp = length == 1 ? lead : lead & (0x7F >> length);
    for (int k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + static_cast<size_t>(k)]);
      KILN_CHECK((next & 0xC0) == 0x80, "{}: invalid UTF-8 at byte {} of \"{}\"", owner, i, text);
      cp = (cp << 6) | (next & 0x3F);
    }
    constexpr char32_t kSmallest[5] = {0, 0, 0x80, 0x800, 0x10000};
    KILN_CHECK(cp >= kSmallest[length] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF),
               "{}: invalid UTF-8 at byte {} of \"{}\"", owner, i, text);
    out.push_back(cp);
    i += static_cast<size_t>(length);
  }
  return out;
}

// The pen's x before each character and, last, after the whole text: the
// advance of every glyph plus its kerning with the next one, in float.
std::vector<float> pen_positions(const stbtt_fontinfo& info, const std::vector<char32_t>& cps, float scale) {
  std::vector<float> pens{0.0f};
  for (size_t i = 0; i < cps.size(); ++i) {
    int advance = 0, left_bearing = 0;
    stbtt_GetCodepointHMetrics(&info, static_cast<int>(cps[i]), &advance, &left_bearing);
    float pen = pens.back() + static_cast<float>(advance) * scale;
    if (i + 1 < cps.size())
      pen += static_cast<float>(
                 stbtt_GetCodepointKernAdvance(&info, static_cast<int>(cps[i]), static_cast<int>(cps[i + 1]))) *
             scale;
    pens.push_back(pen);
  }
  return pens;
}

}  // namespace

TextRenderer::TextRenderer(const fs::path& font, std::string owner)
    : owner_(std::move(owner)), font_(std::make_unique<Font>()) {
  font_->bytes = read_font_file(font, owner_);
  const int offset = stbtt_GetFontOffsetForIndex(font_->bytes.data(), 0);
  KILN_CHECK(offset >= 0 && stbtt_InitFont(&font_->info, font_->bytes.data(), offset) != 0,
             "{}: {} is not a TrueType font stb_truetype can read", owner_, font.string());
}

TextRenderer::~TextRenderer() = default;
TextRenderer::TextRenderer(TextRenderer&&) noexcept = default;
TextRenderer& TextRenderer::operator=(TextRenderer&&) noexcept = default;

FontVerticalMetrics TextRenderer::vertical_metrics() const {
  FontVerticalMetrics m;
  stbtt_GetFontVMetrics(&font_->info, &m.ascent, &m.descent, &m.line_gap);
  return m;
}

std::vector<char32_t> TextRenderer::codepoints(std::string_view text) const {
  std::vector<char32_t> cps = decode_utf8(text, owner_);
  for (char32_t cp : cps)
    KILN_CHECK(stbtt_FindGlyphIndex(&font_->info, static_cast<int>(cp)) != 0, "{}: no glyph for U+{:04X}", owner_,
               static_cast<uint32_t>(cp));
  return cps;
}

void TextRenderer::check_style(const LineStyle& style) const {
  KILN_CHECK(style.pixel_height >= 1 && style.pixel_height <= 1024, "{}: pixel height {} outside 1..1024", owner_,
             style.pixel_height);
  KILN_CHECK(style.margin_y >= 0 && style.margin_x >= 0, "{}: margins ({}, {}) must be ≥ 0", owner_, style.margin_y,
             style.margin_x);
  KILN_CHECK(style.canvas_multiple >= 1, "{}: canvas multiple {} must be ≥ 1", owner_, style.canvas_multiple);
}

float TextRenderer::pen_advance(std::string_view text, int64_t pixel_height) const {
  const float scale = stbtt_ScaleForPixelHeight(&font_->info, static_cast<float>(pixel_height));
  return pen_positions(font_->info, codepoints(text), scale).back();
}

ImageSize TextRenderer::line_size(std::string_view text, const LineStyle& style) const {
  check_style(style);
  const auto pen = static_cast<int64_t>(std::ceil(pen_advance(text, style.pixel_height)));
  return {round_up(style.pixel_height + 2 * style.margin_y, style.canvas_multiple),
          round_up(std::max<int64_t>(pen + 2 * style.margin_x, 1), style.canvas_multiple)};
}

PlanarImage TextRenderer::render_line(std::string_view text, const LineStyle& style) const {
  const ImageSize size = line_size(text, style);
  PlanarImage canvas = PlanarImage::filled(1, size.height, size.width, 0.0f);
  const std::vector<char32_t> cps = codepoints(text);
  const stbtt_fontinfo& info = font_->info;
  const float scale = stbtt_ScaleForPixelHeight(&info, static_cast<float>(style.pixel_height));
  const int64_t baseline =
      style.margin_y + static_cast<int64_t>(std::nearbyint(static_cast<float>(vertical_metrics().ascent) * scale));
  const std::vector<float> pens = pen_positions(info, cps, scale);
  std::vector<unsigned char> coverage;
  for (size_t i = 0; i < cps.size(); ++i) {
    const int cp = static_cast<int>(cps[i]);
    const float x = static_cast<float>(style.margin_x) + pens[i];
    const float whole = std::floor(x), shift = x - whole;
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    stbtt_GetCodepointBitmapBoxSubpixel(&info, cp, scale, scale, shift, 0.0f, &x0, &y0, &x1, &y1);
    const int w = x1 - x0, h = y1 - y0;
    if (w > 0 && h > 0) {
      coverage.assign(static_cast<size_t>(w) * static_cast<size_t>(h), 0);
      stbtt_MakeCodepointBitmapSubpixel(&info, coverage.data(), w, h, w, scale, scale, shift, 0.0f, cp);
      const int64_t left = static_cast<int64_t>(whole) + x0, top = baseline + y0;
      for (int gy = 0; gy < h; ++gy)
        for (int gx = 0; gx < w; ++gx) {
          const int64_t cy = top + gy, cx = left + gx;
          if (cy < 0 || cy >= size.height || cx < 0 || cx >= size.width) continue;
          const float ink = static_cast<float>(coverage[static_cast<size_t>(gy * w + gx)]) * (1.0f / 255.0f);
          canvas.at(0, cy, cx) = std::max(canvas.at(0, cy, cx), ink);
        }
    }
  }
  return canvas;
}

}  // namespace kiln::data
