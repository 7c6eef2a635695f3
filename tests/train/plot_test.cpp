#include "kiln/train/plot.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "kiln/base/error.hpp"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;

TEST(Plot, DrawsAPngFromMetrics) {
  const fs::path run = fs::temp_directory_path() / ("kiln_plot_" + std::to_string(::getpid()));
  fs::create_directories(run);
  {
    std::ofstream m(run / "metrics.jsonl");
    for (int s = 1; s <= 50; ++s)
      m << "{\"step\": " << s << ", \"loss\": " << 5.0 / s << (s % 10 == 0 ? ", \"val_loss\": 1.0" : "") << "}\n";
  }
  plot_run(run, run / "loss.png");
  std::ifstream png(run / "loss.png", std::ios::binary);
  std::string head(8, '\0');
  png.read(head.data(), 8);
  EXPECT_EQ(head, "\x89PNG\r\n\x1a\n");
  EXPECT_GT(fs::file_size(run / "loss.png"), 1000u);
  std::ofstream(run / "metrics.jsonl") << "not json\n";
  EXPECT_THROW(plot_run(run, run / "bad.png"), Error);
  EXPECT_FALSE(fs::exists(run / "bad.png"));
  EXPECT_THROW(plot_run(run / "missing", run / "x.png"), Error);
  fs::remove_all(run);
}

}  // namespace
}  // namespace kiln::train
