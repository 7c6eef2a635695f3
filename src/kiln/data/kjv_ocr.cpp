#include "kiln/data/kjv_ocr.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <utility>

#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "random_draws.hpp"

namespace kiln::data {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kWholeBible = "Gen1:1-Rev22:21";
constexpr uint64_t kLineStream = uint64_t{0x6F} << 56;   // span and style draws
constexpr uint64_t kNoiseStream = uint64_t{0x6E} << 56;  // pixel noise, one stream per line

bool is_executable(const fs::path& path) { return fs::is_regular_file(path) && ::access(path.c_str(), X_OK) == 0; }

bool program_exists(const std::string& program) {
  if (program.find('/') != std::string::npos) return is_executable(program);
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "";
  while (!dirs.empty()) {
    const size_t colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    if (!dir.empty() && is_executable(fs::path(dir) / program)) return true;
    dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
  }
  return false;
}

std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// "Ge1:1 In the beginning …" → "In the beginning …"; empty if the line does
// not start with a reference (book, chapter:verse, space).
std::string_view without_reference(std::string_view line) {
  size_t i = 0;
  if (i < line.size() && line[i] >= '1' && line[i] <= '3') ++i;
  const size_t book = i;
  while (i < line.size() && std::isalpha(static_cast<unsigned char>(line[i]))) ++i;
  const size_t chapter = i;
  while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  if (i == book || i == chapter || i >= line.size() || line[i] != ':') return {};
  const size_t verse = ++i;
  while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  if (i == verse || i >= line.size() || line[i] != ' ') return {};
  return line.substr(i + 1);
}

// The output of `command`, line by line, and whether it exited with status 0.
std::pair<std::vector<std::string>, bool> command_lines(const std::string& command) {
  std::FILE* pipe = ::popen(command.c_str(), "r");
  KILN_CHECK(pipe != nullptr, "kjv-ocr: cannot run {}", command);
  std::vector<std::string> lines(1);
  char buffer[4096];
  size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    for (size_t k = 0; k < got; ++k) {
      if (buffer[k] == '\n')
        lines.emplace_back();
      else
        lines.back() += buffer[k];
    }
  const int status = ::pclose(pipe);
  if (lines.back().empty()) lines.pop_back();
  return {std::move(lines), status == 0};
}

}  // namespace

std::vector<std::string> read_kjv_verses(const std::string& program) {
  KILN_CHECK(program_exists(program), "kjv-ocr: the '{}' program is missing (apt-get install bible-kjv bible-kjv-text)",
             program);
  const std::string command = shell_quoted(program) + " -f " + std::string(kWholeBible) + " 2>/dev/null";
  const auto [lines, ok] = command_lines(command);
  std::vector<std::string> verses;
  verses.reserve(static_cast<size_t>(kKjvVerseCount));
  for (const std::string& line : lines) {
    if (line.empty()) continue;
    const std::string_view text = without_reference(line);
    KILN_CHECK(!text.empty(), "kjv-ocr: `{} -f {}` printed a line without a verse reference: \"{}\"", program,
               kWholeBible, line.substr(0, 60));
    verses.emplace_back(text);
  }
  KILN_CHECK(ok && static_cast<int64_t>(verses.size()) == kKjvVerseCount,
             "kjv-ocr: `{} -f {}` gave {} verses{}, expected 31,102 (apt-get install bible-kjv-text)", program,
             kWholeBible, verses.size(), ok ? "" : " and failed");
  return verses;
}

std::vector<std::string> kjv_split(const std::vector<std::string>& verses, DataSplit split) {
  std::vector<std::string> out;
  for (size_t i = 0; i < verses.size(); ++i)
    if ((i % 10 == 9) == (split == DataSplit::test)) out.push_back(verses[i]);
  return out;
}

std::vector<std::string_view> verse_words(std::string_view verse) {
  std::vector<std::string_view> words;
  size_t begin = verse.find_first_not_of(' ');
  while (begin != std::string_view::npos) {
    const size_t end = std::min(verse.find(' ', begin), verse.size());
    words.push_back(verse.substr(begin, end - begin));
    begin = verse.find_first_not_of(' ', end);
  }
  return words;
}

std::string verse_span(std::span<const std::string_view> words, int64_t start_word, int64_t count, int64_t max_chars) {
  KILN_CHECK(start_word >= 0 && start_word < static_cast<int64_t>(words.size()) && count >= 1,
             "kjv-ocr: span of {} word(s) from word {} of a {}-word verse", count, start_word, words.size());
  const auto first = static_cast<size_t>(start_word);
  const size_t end = std::min(words.size(), first + static_cast<size_t>(count));
  std::string span(words[first]);
  KILN_CHECK(static_cast<int64_t>(span.size()) <= max_chars, "kjv-ocr: the word \"{}\" is longer than {} characters",
             span, max_chars);
  for (size_t w = first + 1; w < end; ++w) {
    if (static_cast<int64_t>(span.size() + 1 + words[w].size()) > max_chars) break;
    span += ' ';
    span += words[w];
  }
  return span;
}

std::string fitted_span(const TextRenderer& renderer, std::span<const std::string_view> words, int64_t start_word,
                        int64_t count, const LineStyle& style, int64_t max_width) {
  std::string span = verse_span(words, start_word, count);
  for (auto kept = static_cast<int64_t>(verse_words(span).size());
       renderer.line_size(span, style).width > max_width && kept > 1;)
    span = verse_span(words, start_word, --kept);
  KILN_CHECK(renderer.line_size(span, style).width <= max_width, "kjv-ocr: \"{}\" at {} px is wider than {} px", span,
             style.pixel_height, max_width);
  return span;
}

KjvOcrLines::KjvOcrLines(DataSplit split, OcrOptions options)
    : KjvOcrLines(split, std::move(options), read_kjv_verses()) {}

KjvOcrLines::KjvOcrLines(DataSplit split, OcrOptions options, const std::vector<std::string>& verses)
    : split_(split), options_(std::move(options)), verses_(kjv_split(verses, split)),
      renderer_(options_.font, "kjv-ocr") {
  KILN_CHECK(!verses_.empty(), "kjv-ocr: no {} verses among the {} given", split_name(split), verses.size());
  KILN_CHECK(options_.noise_sigma >= 0, "kjv-ocr: noise sigma {} must be ≥ 0", options_.noise_sigma);
}

OcrLineLayout KjvOcrLines::layout(uint64_t seed, int64_t index) const {
  KILN_CHECK(index >= 0, "kjv-ocr: index {} is negative", index);
  const PhiloxKey key{seed, kLineStream | static_cast<uint64_t>(split_)};
  const auto first = philox_block(key, 2 * static_cast<uint64_t>(index));
  const auto second = philox_block(key, 2 * static_cast<uint64_t>(index) + 1);

  OcrLineLayout out;
  out.verse = index % verses();
  const std::vector<std::string_view> words = verse_words(verses_[static_cast<size_t>(out.verse)]);
  KILN_CHECK(!words.empty(), "kjv-ocr: {} verse {} is empty", split_name(split_), out.verse);
  const int64_t count = uniform_int(first[1], 1, options_.easy ? 3 : 8);
  const int64_t last_start = std::max<int64_t>(0, static_cast<int64_t>(words.size()) - count);
  out.style.pixel_height = options_.easy ? 16 : uniform_int(first[2], 12, 18);
  out.style.margin_y = options_.easy ? 0 : uniform_int(first[3], 0, 2);
  out.style.margin_x = uniform_int(second[0], 0, 8);
  out.text = fitted_span(renderer_, words, uniform_int(first[0], 0, last_start), count, out.style);
  out.size = renderer_.line_size(out.text, out.style);
  return out;
}

OcrLine KjvOcrLines::line(uint64_t seed, int64_t index) const {
  OcrLine out{{}, layout(seed, index)};
  out.image = renderer_.render_line(out.layout.text, out.layout.style);
  if (options_.noise_sigma > 0) {
    const PhiloxKey noise{seed, kNoiseStream | (static_cast<uint64_t>(index) << 1) | static_cast<uint64_t>(split_)};
    const auto sigma = static_cast<float>(options_.noise_sigma);
    for (size_t p = 0; p < out.image.pixels.size(); ++p) out.image.pixels[p] += sigma * philox_normal(noise, p);
  }
  return out;
}

}  // namespace kiln::data
