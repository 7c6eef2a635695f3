#pragma once
// A one-line progress display on stderr: "label [#####.....] 42% 1.2k/3k  loss 3.21  9.8k tok/s  ETA 0:42".
// It redraws at most every 100 ms, only when stderr is a terminal (or when
// forced), so logs and tests stay clean.
#include <chrono>
#include <cstdint>
#include <string>

namespace kiln {

class ProgressBar {
 public:
  // total = 0: unknown length (no bar, no ETA).
  ProgressBar(std::string label, int64_t total, std::string unit = "it");
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void update(int64_t done, const std::string& extra = {});
  void finish(const std::string& extra = {});
  static bool stderr_is_terminal();
  void set_enabled(bool enabled) { enabled_ = enabled; }

 private:
  void draw(bool final_line);

  std::string label_, unit_, extra_;
  int64_t total_ = 0, done_ = 0;
  bool enabled_ = false, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1.2k", "3.4M" — compact counts for progress lines.
std::string human_count(double value);
// "1:02:03" or "4:05".
std::string human_duration(double seconds);

}  // namespace kiln
