#include "kiln/base/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace kiln {

namespace {
constexpr int kBarWidth = 24;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
}  // namespace

std::string human_count(double value) {
  const char* suffix[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (std::abs(value) >= 1000 && i < 4) {
    value /= 1000;
    ++i;
  }
  if (i > 0) return fmt::format("{:.1f}{}", value, suffix[i]);
  // Rates under 10 (a few packs or steps per second) keep two significant digits.
  return std::abs(value) < 10 && value != 0 ? fmt::format("{:.2g}", value) : fmt::format("{:.0f}", value);
}

std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

bool ProgressBar::stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(stderr_is_terminal()),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  if (enabled_ && !finished_ && done_ > 0) std::fputc('\n', stderr);
}

void ProgressBar::update(int64_t done, const std::string& extra) {
  done_ = done;
  extra_ = extra;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish(const std::string& extra) {
  if (!extra.empty()) extra_ = extra;
  if (total_ > 0) done_ = std::max(done_, total_);
  draw(true);
  finished_ = true;
}

void ProgressBar::draw(bool final_line) {
  if (!enabled_) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
  std::string line = label_;
  if (total_ > 0) {
    const double fraction = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    const int filled = static_cast<int>(fraction * kBarWidth);
    line += fmt::format(" [{}{}] {:3.0f}% {}/{}", std::string(filled, '#'), std::string(kBarWidth - filled, '.'),
                        100 * fraction, human_count(static_cast<double>(done_)), human_count(static_cast<double>(total_)));
  } else {
    line += fmt::format(" {}", human_count(static_cast<double>(done_)));
  }
  if (!extra_.empty()) line += "  " + extra_;
  line += fmt::format("  {} {}/s", human_count(rate), unit_);
  if (total_ > 0 && !final_line && rate > 0)
    line += "  ETA " + human_duration(static_cast<double>(total_ - done_) / rate);
  if (final_line) line += "  " + human_duration(elapsed);
  fmt::print(stderr, "\r\033[K{}{}", line, final_line ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace kiln
