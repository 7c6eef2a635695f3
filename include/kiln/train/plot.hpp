#pragma once
// Line charts of training curves, drawn into an RGB canvas and saved as PNG
// (no plotting library: axes, grid, ticks, a 3×5 pixel font, lines).
#include <array>
#include <filesystem>
#include <string>
#include <vector>

namespace kiln::train {

struct Series {
  std::string label;
  std::vector<double> x, y;
  std::array<uint8_t, 3> color;
  bool markers = false;  // dots at every point, for sparse series
};

struct Chart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
};

void draw_chart_png(const Chart& chart, const std::filesystem::path& path, int width = 960, int height = 600);

// Reads <run>/metrics.jsonl and draws loss curves (training loss per step,
// validation loss where measured, MTP loss) to `path`; for MoE runs also
// the per-layer expert load (max/mean) next to it as <stem>-expert-load.png.
// Returns the files written.
std::vector<std::filesystem::path> plot_run(const std::filesystem::path& run_dir, const std::filesystem::path& path);

}  // namespace kiln::train
