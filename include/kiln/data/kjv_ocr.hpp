#pragma once
// Lines of KJV text to read (SPEC-VLM §7.2), the OCR task of the
// vision-language model. A line is a pure function of (seed, split, index)
// through Philox:
//  - text: verse i mod (verses in the split) of the raw KJV (case and
//    punctuation kept); split as scripts/prepare-kjv.sh does, verse index
//    i mod 10 = 9 → test (3,110 verses), the rest → train (27,992);
//  - span: k ~ U{1..8} words from a uniform start word among those that
//    leave room for k words (the whole verse when it is shorter), cut at a
//    word boundary to at most 48 characters and to a canvas at most 448 px
//    wide (fitted_span); the answer is the span's bytes.
//    (Drawing the start over all words instead cuts spans near a verse's end
//    short: a mean width of 142 px instead of 160, further from the ≈ 165 px
//    the spec quotes; docs/vlm.md);
//  - style: pixel height px ~ U{12..18}, margins mv ~ U{0..2}, mh ~ U{0..8},
//    so the canvas is 16 or 24 px high (text_renderer.hpp draws it);
//  - optional Gaussian noise (σ = 0.05 in the spec), off by default; pixels
//    then leave [0, 1] and are not clamped.
// The easy variant (configs/kjv-ocr-easy.toml) takes 1–3 words at a fixed
// px = 16 with mv = 0, so every line is exactly 16 px high; mh is drawn as above.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/data/data_split.hpp"
#include "kiln/data/planar_image.hpp"
#include "kiln/data/text_renderer.hpp"

namespace kiln::data {

inline constexpr int64_t kKjvVerseCount = 31102;
inline constexpr int64_t kOcrMaxSpanChars = 48;
// The widest line canvas (the pad baseline's 24×448); see fitted_span.
inline constexpr int64_t kOcrMaxLineWidth = 448;
// Every character of the raw KJV text: letters, space and , . : ; ? ' ! ( ) -
inline constexpr std::string_view kOcrAlphabet =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ,.:;?'!()-";

// The 31,102 raw verses of `bible -f Gen1:1-Rev22:21` (Debian's bible-kjv and
// bible-kjv-text) without their references ("Ge1:1 "). `program` is the
// bible program (found on PATH unless it names a path). A missing program or
// text package is one error naming the packages to install.
std::vector<std::string> read_kjv_verses(const std::string& program = "bible");

// The verses of one split: index i mod 10 = 9 → test, else train.
std::vector<std::string> kjv_split(const std::vector<std::string>& verses, DataSplit split);

// The words of a verse: maximal runs of non-space characters (three verses
// have a double or a trailing space, which spans do not keep).
std::vector<std::string_view> verse_words(std::string_view verse);

// The span rule: words start_word … start_word + count − 1 (fewer at the
// verse's end) joined by single spaces, then whole words dropped from the end
// until the span has at most max_chars characters. A first word longer than
// max_chars is an error.
std::string verse_span(std::span<const std::string_view> words, int64_t start_word, int64_t count,
                       int64_t max_chars = kOcrMaxSpanChars);

// verse_span, then whole words dropped from the end while the line drawn at
// `style` would be wider than max_width: 55 of the 50 million (start, px, mh)
// cases of the KJV, all-capital spans at 17–18 px such as "GREAT, THE MOTHER
// OF HARLOTS AND ABOMINATIONS OF" (480 px), would otherwise exceed 448 px.
std::string fitted_span(const TextRenderer& renderer, std::span<const std::string_view> words, int64_t start_word,
                        int64_t count, const LineStyle& style, int64_t max_width = kOcrMaxLineWidth);

struct OcrOptions {
  bool easy = false;        // 1–3 words, px = 16, mv = 0
  double noise_sigma = 0;   // Gaussian pixel noise; 0 = none
  std::filesystem::path font{kDejaVuSansPath};
};

// A line without its pixels: the text and the canvas it gets, enough to
// count its tokens before rendering.
struct OcrLineLayout {
  int64_t verse = 0;  // index of the verse in the split
  std::string text;
  LineStyle style;
  ImageSize size;     // (Hc, Wc)
};

struct OcrLine {
  PlanarImage image;  // one channel, ink 1.0 on 0
  OcrLineLayout layout;
};

class KjvOcrLines {
 public:
  // Reads the verses with read_kjv_verses and the font of `options`.
  explicit KjvOcrLines(DataSplit split, OcrOptions options = {});
  // From verses already read (all 31,102, split here).
  KjvOcrLines(DataSplit split, OcrOptions options, const std::vector<std::string>& verses);

  DataSplit split() const { return split_; }
  int64_t verses() const { return static_cast<int64_t>(verses_.size()); }
  const TextRenderer& renderer() const { return renderer_; }

  OcrLineLayout layout(uint64_t seed, int64_t index) const;
  OcrLine line(uint64_t seed, int64_t index) const;

 private:
  DataSplit split_;
  OcrOptions options_;
  std::vector<std::string> verses_;
  TextRenderer renderer_;
};

}  // namespace kiln::data
