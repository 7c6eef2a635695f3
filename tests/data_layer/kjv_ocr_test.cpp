// KJV OCR lines (SPEC-VLM §7.2): the raw verses and their split, the span
// rule (≤ 48 characters, whole consecutive words, the KJV alphabet), the
// renderer against stb_truetype's own metrics (pen advance = Σ advance +
// kerning, DejaVu Sans' ascent and descent), canvas sizes, the easy variant,
// determinism, and the errors. Needs bible-kjv, bible-kjv-text and
// fonts-dejavu-core (skipped without them).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/data/kjv_ocr.hpp"
#include "support/error_text.hpp"

// The test's own copy of stb_truetype, to measure the font independently of
// the renderer.
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
namespace {

namespace fs = std::filesystem;

using kiln::testing::error_of;

bool packages_installed() {
  return fs::exists("/usr/bin/bible") && fs::exists("/usr/lib/bible.data") && fs::exists(kDejaVuSansPath);
}

class KjvOcrTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!packages_installed()) return;
    verses_ = std::make_unique<std::vector<std::string>>(read_kjv_verses());
    train_ = std::make_unique<KjvOcrLines>(DataSplit::train, OcrOptions{}, *verses_);
    easy_ = std::make_unique<KjvOcrLines>(DataSplit::test, OcrOptions{.easy = true}, *verses_);
  }
  static void TearDownTestSuite() {
    verses_.reset();
    train_.reset();
    easy_.reset();
  }
  void SetUp() override {
    if (!verses_) GTEST_SKIP() << "bible-kjv, bible-kjv-text or fonts-dejavu-core is not installed";
  }
  static std::unique_ptr<std::vector<std::string>> verses_;
  static std::unique_ptr<KjvOcrLines> train_, easy_;
};

std::unique_ptr<std::vector<std::string>> KjvOcrTest::verses_;
std::unique_ptr<KjvOcrLines> KjvOcrTest::train_, KjvOcrTest::easy_;

// Whether `span` is a run of whole consecutive words of `verse`.
bool is_word_run(const std::string& span, const std::string& verse) {
  const std::vector<std::string_view> words = verse_words(verse), run = verse_words(span);
  return std::search(words.begin(), words.end(), run.begin(), run.end()) != words.end() &&
         span.size() == std::string_view(span).find_last_not_of(' ') + 1;
}

TEST_F(KjvOcrTest, RawVersesAndSplit) {
  ASSERT_EQ(verses_->size(), 31102u);
  EXPECT_EQ(verses_->front(), "In the beginning God created the heaven and the earth.");
  EXPECT_EQ(verses_->back(), "The grace of our Lord Jesus Christ be with you all. Amen.");
  size_t chars = 0;
  for (const std::string& v : *verses_) chars += v.size();
  EXPECT_NEAR(static_cast<double>(chars) / 31102, 132, 0.5);  // §7.2: 132 characters on average
  const std::vector<std::string> test = kjv_split(*verses_, DataSplit::test);
  EXPECT_EQ(test.size(), 3110u);
  EXPECT_EQ(train_->verses(), 27992);
  EXPECT_EQ(test.front(), (*verses_)[9]);  // Gen 1:10: index 9 mod 10 = 9
  EXPECT_EQ(test[1], (*verses_)[19]);
  for (const std::string& v : *verses_)
    for (char c : v) ASSERT_NE(kOcrAlphabet.find(c), std::string_view::npos) << "'" << c << "' in " << v;
}

TEST_F(KjvOcrTest, SpanRule) {
  int64_t longest = 0;
  std::vector<int> words_seen(9, 0);
  for (int64_t i = 0; i < 3000; ++i) {
    const OcrLineLayout l = train_->layout(1, i);
    ASSERT_FALSE(l.text.empty());
    EXPECT_LE(l.text.size(), 48u) << l.text;
    longest = std::max<int64_t>(longest, static_cast<int64_t>(l.text.size()));
    EXPECT_EQ(l.text.front() == ' ' || l.text.back() == ' ', false) << l.text;
    EXPECT_EQ(l.text.find("  "), std::string::npos) << l.text;
    const std::vector<std::string_view> words = verse_words(l.text);
    ASSERT_LE(words.size(), 8u) << l.text;
    ++words_seen[words.size()];
    for (char c : l.text) EXPECT_NE(kOcrAlphabet.find(c), std::string_view::npos) << l.text;
  }
  EXPECT_GT(longest, 40);
  for (int k = 1; k <= 8; ++k) EXPECT_GT(words_seen[static_cast<size_t>(k)], 0) << k << " words";
}

TEST_F(KjvOcrTest, SpansAreRunsOfWholeWordsOfTheirVerse) {
  const std::vector<std::string> train = kjv_split(*verses_, DataSplit::train);
  for (int64_t i : {0, 1, 2, 500, 27991, 27992, 60000}) {
    const OcrLineLayout l = train_->layout(9, i);
    EXPECT_EQ(l.verse, i % 27992);
    EXPECT_TRUE(is_word_run(l.text, train[static_cast<size_t>(l.verse)])) << l.text;
  }
}

TEST(VerseSpan, CutsAtWordBoundaries) {
  const std::string verse = "And God said, Let there be light: and there was light.";
  const std::vector<std::string_view> words = verse_words(verse);
  EXPECT_EQ(verse_span(words, 0, 3), "And God said,");
  EXPECT_EQ(verse_span(words, 8, 8), "there was light.");  // fewer at the verse's end
  EXPECT_EQ(verse_span(words, 0, 8), "And God said, Let there be light: and");  // 37 characters
  EXPECT_EQ(verse_span(words, 0, 8, 20), "And God said, Let");  // the next word would make 23
  EXPECT_EQ(verse_words(" a  b "), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_EQ(error_of([&] { verse_span(words, 0, 1, 2); }), "kjv-ocr: the word \"And\" is longer than 2 characters");
  EXPECT_EQ(error_of([&] { verse_span(words, 11, 1); }), "kjv-ocr: span of 1 word(s) from word 11 of a 11-word verse");
}

TEST_F(KjvOcrTest, TheWidestSpanIsCutToTheWidestCanvas) {
  // Rev 17:5's capitals: 48 characters that need a 480-px canvas at 18 px with mh = 8.
  const std::string& verse = (*verses_)[30980];
  const std::vector<std::string_view> words = verse_words(verse);
  const auto start = std::find(words.begin(), words.end(), "GREAT,") - words.begin();
  const LineStyle widest{.pixel_height = 18, .margin_y = 0, .margin_x = 8};
  const std::string span = verse_span(words, start, 8);
  EXPECT_EQ(span, "GREAT, THE MOTHER OF HARLOTS AND ABOMINATIONS OF");
  EXPECT_EQ(train_->renderer().line_size(span, widest).width, 480);
  const std::string fitted = fitted_span(train_->renderer(), words, start, 8, widest);
  EXPECT_EQ(fitted, "GREAT, THE MOTHER OF HARLOTS AND ABOMINATIONS");
  EXPECT_LE(train_->renderer().line_size(fitted, widest).width, kOcrMaxLineWidth);
  // At 15 px the whole span fits.
  EXPECT_EQ(fitted_span(train_->renderer(), words, start, 8, {.pixel_height = 15, .margin_x = 8}), span);
}

TEST_F(KjvOcrTest, CanvasSizesAndStatistics) {
  int64_t short_lines = 0, width_sum = 0, patch_sum = 0, widest = 0;
  constexpr int64_t kLines = 3000;
  for (int64_t i = 0; i < kLines; ++i) {
    const OcrLineLayout l = train_->layout(2, i);
    EXPECT_TRUE(l.style.pixel_height >= 12 && l.style.pixel_height <= 18);
    EXPECT_TRUE(l.style.margin_y >= 0 && l.style.margin_y <= 2);
    EXPECT_TRUE(l.style.margin_x >= 0 && l.style.margin_x <= 8);
    EXPECT_TRUE(l.size.height == 16 || l.size.height == 24) << l.size.height;
    EXPECT_EQ(l.size.height, (l.style.pixel_height + 2 * l.style.margin_y + 7) / 8 * 8);
    EXPECT_EQ(l.size.width % 8, 0);
    EXPECT_LE(l.size.width, 448);
    short_lines += l.size.height == 16;
    width_sum += l.size.width;
    patch_sum += (l.size.height / 4) * (l.size.width / 4);
    widest = std::max(widest, l.size.width);
  }
  // 16 px high when px + 2mv ≤ 16: 9 of the 21 equally likely (px, mv) pairs = 42.9%.
  EXPECT_NEAR(static_cast<double>(short_lines) / kLines, 9.0 / 21.0, 0.03);
  ::testing::Test::RecordProperty("mean_width", std::to_string(static_cast<double>(width_sum) / kLines));
  ::testing::Test::RecordProperty("mean_patches", std::to_string(static_cast<double>(patch_sum) / kLines));
  ::testing::Test::RecordProperty("widest", std::to_string(widest));
}

TEST_F(KjvOcrTest, EasyVariant) {
  for (int64_t i = 0; i < 500; ++i) {
    const OcrLine line = easy_->line(4, i);
    EXPECT_EQ(line.layout.style.pixel_height, 16);
    EXPECT_EQ(line.layout.style.margin_y, 0);
    EXPECT_EQ(line.image.height, 16);
    EXPECT_LE(verse_words(line.layout.text).size(), 3u);
  }
}

TEST_F(KjvOcrTest, SameSeedSplitIndexGiveTheSameBytes) {
  const KjvOcrLines again(DataSplit::train, OcrOptions{}, *verses_);
  for (int64_t i : {0, 3, 777}) {
    const OcrLine a = train_->line(8, i), b = again.line(8, i);
    EXPECT_EQ(a.image, b.image);
    EXPECT_EQ(a.layout.text, b.layout.text);
    EXPECT_EQ(a.image.size(), a.layout.size);
  }
  EXPECT_NE(train_->line(8, 3).layout.text, train_->line(9, 3).layout.text);
  // The test split draws from its own stream and verses.
  const KjvOcrLines test(DataSplit::test, OcrOptions{}, *verses_);
  EXPECT_NE(train_->line(8, 3).layout.text, test.line(8, 3).layout.text);
  // Noise: the same noise for the same line, another for another line; σ ≈ 0.05 on the background.
  const KjvOcrLines noisy(DataSplit::train, OcrOptions{.noise_sigma = 0.05}, *verses_);
  const OcrLine n1 = noisy.line(8, 3), n2 = noisy.line(8, 3), clean = train_->line(8, 3);
  EXPECT_EQ(n1.image, n2.image);
  double square = 0;
  for (size_t p = 0; p < n1.image.pixels.size(); ++p) {
    const double d = n1.image.pixels[p] - clean.image.pixels[p];
    square += d * d;
  }
  EXPECT_NEAR(std::sqrt(square / static_cast<double>(n1.image.pixels.size())), 0.05, 0.01);
}

// The test's own stb_truetype handle on DejaVu Sans.
struct StbFont {
  std::vector<unsigned char> bytes;
  stbtt_fontinfo info{};
  StbFont() {
    std::ifstream in(std::string(kDejaVuSansPath), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    stbtt_InitFont(&info, bytes.data(), 0);
  }
};

TEST_F(KjvOcrTest, PenAdvanceIsStbAdvancePlusKerning) {
  const StbFont font;
  const TextRenderer& renderer = train_->renderer();
  int kerned_pairs = 0;
  for (int64_t i = 0; i < 200; ++i) {
    const OcrLineLayout l = train_->layout(3, i);
    const float scale = stbtt_ScaleForPixelHeight(&font.info, static_cast<float>(l.style.pixel_height));
    float pen = 0;
    for (size_t k = 0; k < l.text.size(); ++k) {
      int advance = 0, bearing = 0;
      stbtt_GetCodepointHMetrics(&font.info, l.text[k], &advance, &bearing);
      pen += static_cast<float>(advance) * scale;
      if (k + 1 < l.text.size()) {
        const int kern = stbtt_GetCodepointKernAdvance(&font.info, l.text[k], l.text[k + 1]);
        kerned_pairs += kern != 0;
        pen += static_cast<float>(kern) * scale;
      }
    }
    // Within 4 ulps, not bit for bit: the library is built with -march=native,
    // where the compiler may fuse pen + advance·scale into one FMA.
    const float rendered = renderer.pen_advance(l.text, l.style.pixel_height);
    EXPECT_FLOAT_EQ(rendered, pen) << l.text;
    EXPECT_EQ(l.size.width, (static_cast<int64_t>(std::ceil(rendered)) + 2 * l.style.margin_x + 7) / 8 * 8) << l.text;
  }
  EXPECT_GT(kerned_pairs, 0);  // DejaVu Sans kerns some pairs ("Te", "y.", …), so kerning is exercised
}

TEST_F(KjvOcrTest, FontMetricsOfTheSpec) {
  const TextRenderer& renderer = train_->renderer();
  const FontVerticalMetrics m = renderer.vertical_metrics();
  EXPECT_EQ(m.ascent, 1901);
  EXPECT_EQ(m.descent, -483);
  // §7.2: about 6.66 px per character on a KJV sentence at 15 px (Gen 1:1 here).
  const std::string& sentence = verses_->front();
  const double per_char = renderer.pen_advance(sentence, 15) / static_cast<double>(sentence.size());
  EXPECT_NEAR(per_char, 6.66, 0.35);
  ::testing::Test::RecordProperty("advance_per_char_15px", std::to_string(per_char));
}

TEST_F(KjvOcrTest, InkLiesInsideTheLine) {
  int full_ink = 0;
  for (int64_t i = 0; i < 50; ++i) {
    const OcrLine line = train_->line(6, i);
    const LineStyle& s = line.layout.style;
    const float pen = train_->renderer().pen_advance(line.layout.text, s.pixel_height);
    float darkest = 0;
    int64_t left = line.image.width, right = -1, top = line.image.height, bottom = -1;
    for (int64_t y = 0; y < line.image.height; ++y)
      for (int64_t x = 0; x < line.image.width; ++x) {
        const float v = line.image.at(0, y, x);
        ASSERT_TRUE(v >= 0 && v <= 1);
        darkest = std::max(darkest, v);
        if (v == 0) continue;
        left = std::min(left, x), right = std::max(right, x);
        top = std::min(top, y), bottom = std::max(bottom, y);
      }
    // Ink is 1.0 where a glyph covers a whole pixel; at 12–18 px a line's
    // strokes are about one pixel wide, so some lines never quite reach it.
    EXPECT_GT(darkest, 0.8f) << line.layout.text;
    full_ink += darkest == 1.0f;
    EXPECT_GE(left, s.margin_x - 1) << line.layout.text;
    EXPECT_LE(right, s.margin_x + static_cast<int64_t>(std::ceil(pen))) << line.layout.text;
    EXPECT_GE(top, s.margin_y) << line.layout.text;
    EXPECT_LE(bottom, s.margin_y + s.pixel_height) << line.layout.text;
  }
  EXPECT_GT(full_ink, 25);
}

TEST(TextRenderer, Errors) {
  if (!fs::exists(kDejaVuSansPath)) GTEST_SKIP() << "fonts-dejavu-core is not installed";
  EXPECT_EQ(error_of([] { TextRenderer("/nonexistent/DejaVuSans.ttf", "kjv-ocr"); }),
            "kjv-ocr: /nonexistent/DejaVuSans.ttf missing (apt-get install fonts-dejavu-core)");
  EXPECT_EQ(error_of([] { TextRenderer(fs::path("/etc/hostname"), "kjv-ocr"); }),
            "kjv-ocr: /etc/hostname is not a TrueType font stb_truetype can read");
  const TextRenderer renderer(kDejaVuSansPath, "kjv-ocr");
  // DejaVu Sans has the em dash of the spec's example, but no CJK: U+4E2D.
  EXPECT_EQ(error_of([&] { renderer.pen_advance("a\xe4\xb8\xad" "b", 15); }), "kjv-ocr: no glyph for U+4E2D");
  EXPECT_EQ(renderer.pen_advance("a\xe2\x80\x94" "b", 15) > renderer.pen_advance("ab", 15), true);
  EXPECT_EQ(error_of([&] { renderer.pen_advance("a\xff", 15); }), "kjv-ocr: invalid UTF-8 at byte 1 of \"a\xff\"");
  EXPECT_EQ(error_of([&] { renderer.render_line("ab", {.pixel_height = 0}); }),
            "kjv-ocr: pixel height 0 outside 1..1024");
  EXPECT_EQ(renderer.line_size("", {.pixel_height = 15}), (ImageSize{16, 8}));
}

TEST(KjvVerses, MissingProgram) {
  EXPECT_EQ(error_of([] { read_kjv_verses("/nonexistent/bible"); }),
            "kjv-ocr: the '/nonexistent/bible' program is missing (apt-get install bible-kjv bible-kjv-text)");
  EXPECT_EQ(error_of([] { read_kjv_verses("no-such-bible-program"); }),
            "kjv-ocr: the 'no-such-bible-program' program is missing (apt-get install bible-kjv bible-kjv-text)");
  // A program that prints no verses: the text package is what is missing.
  EXPECT_EQ(error_of([] { read_kjv_verses("/bin/true"); }),
            "kjv-ocr: `/bin/true -f Gen1:1-Rev22:21` gave 0 verses, expected 31,102 (apt-get install bible-kjv-text)");
}

}  // namespace
}  // namespace kiln::data
