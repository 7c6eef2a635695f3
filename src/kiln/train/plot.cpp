#include "kiln/train/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/base/error.hpp"
#include "kiln/io/png.hpp"

namespace kiln::train {

namespace {

// 3×5 glyphs, five rows of three bits (most significant bit = left column).
uint16_t glyph(char c) {
  switch (c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c) {
    case '0': return 075557; case '1': return 026227; case '2': return 071747; case '3': return 071717;
    case '4': return 055711; case '5': return 074717; case '6': return 074757; case '7': return 071111;
    case '8': return 075757; case '9': return 075717; case '.': return 000002; case '-': return 000700;
    case 'A': return 025755; case 'B': return 065656; case 'C': return 034443; case 'D': return 065556;
    case 'E': return 074647; case 'F': return 074644; case 'G': return 034553; case 'H': return 055755;
    case 'I': return 072227; case 'J': return 011152; case 'K': return 055655; case 'L': return 044447;
    case 'M': return 057755; case 'N': return 065555; case 'O': return 025552; case 'P': return 065644;
    case 'Q': return 025563; case 'R': return 065655; case 'S': return 034216; case 'T': return 072222;
    case 'U': return 055557; case 'V': return 055552; case 'W': return 055775; case 'X': return 055255;
    case 'Y': return 055222; case 'Z': return 071247; case '/': return 011244; case '(': return 024442;
    case ')': return 021112; case '=': return 007070; case ':': return 002020; case '+': return 002720;
    case '_': return 000007; case ',': return 000024;
    default: return 0;
  }
}

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), rgb_(static_cast<size_t>(w) * h * 3, 255) {}
  void pixel(int x, int y, std::array<uint8_t, 3> c) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
    std::copy(c.begin(), c.end(), rgb_.begin() + (static_cast<size_t>(y) * w_ + x) * 3);
  }
  void line(double x0, double y0, double x1, double y1, std::array<uint8_t, 3> c, int thickness = 1) {
    const int steps = static_cast<int>(std::max(std::abs(x1 - x0), std::abs(y1 - y0))) + 1;
    for (int i = 0; i <= steps; ++i) {
      const double t = static_cast<double>(i) / steps;
      const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0))), y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
      for (int dx = 0; dx < thickness; ++dx)
        for (int dy = 0; dy < thickness; ++dy) pixel(x + dx, y + dy, c);
    }
  }
  void text(int x, int y, const std::string& s, std::array<uint8_t, 3> c, int scale = 2) {
    for (char ch : s) {
      const uint16_t g = glyph(ch);
      for (int row = 0; row < 5; ++row)
        for (int col = 0; col < 3; ++col)
          if (g & (1u << (14 - row * 3 - col)))
            for (int a = 0; a < scale; ++a)
              for (int b = 0; b < scale; ++b) pixel(x + col * scale + a, y + row * scale + b, c);
      x += 4 * scale;
    }
  }
  static int text_width(const std::string& s, int scale = 2) { return static_cast<int>(s.size()) * 4 * scale; }
  const std::vector<uint8_t>& rgb() const { return rgb_; }

 private:
  int w_, h_;
  std::vector<uint8_t> rgb_;
};

std::string tick_label(double v) {
  if (v != 0 && (std::abs(v) >= 1e5 || std::abs(v) < 1e-3)) return fmt::format("{:.1e}", v);
  return fmt::format("{:.4g}", v);
}

}  // namespace

void draw_chart_png(const Chart& chart, const std::filesystem::path& path, int width, int height) {
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
  for (const Series& s : chart.series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x_min = std::min(x_min, s.x[i]);
      x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, s.y[i]);
      y_max = std::max(y_max, s.y[i]);
    }
  KILN_CHECK(std::isfinite(x_min), "plot: nothing to draw");
  if (x_max == x_min) x_max = x_min + 1;
  if (y_max == y_min) y_max = y_min + 1;
  const double pad = 0.05 * (y_max - y_min);
  y_min -= pad;
  y_max += pad;
  Canvas canvas(width, height);
  const int left = 90, right = width - 30, top = 50, bottom = height - 70;
  auto px = [&](double x) { return left + (x - x_min) / (x_max - x_min) * (right - left); };
  auto py = [&](double y) { return bottom - (y - y_min) / (y_max - y_min) * (bottom - top); };
  const std::array<uint8_t, 3> ink{40, 40, 40}, grid{225, 225, 225};
  for (int i = 0; i <= 5; ++i) {
    const double xv = x_min + (x_max - x_min) * i / 5, yv = y_min + (y_max - y_min) * i / 5;
    canvas.line(px(xv), top, px(xv), bottom, grid);
    canvas.line(left, py(yv), right, py(yv), grid);
    const std::string xl = tick_label(xv), yl = tick_label(yv);
    canvas.text(static_cast<int>(px(xv)) - Canvas::text_width(xl) / 2, bottom + 10, xl, ink);
    canvas.text(left - 10 - Canvas::text_width(yl), static_cast<int>(py(yv)) - 5, yl, ink);
  }
  canvas.line(left, bottom, right, bottom, ink, 2);
  canvas.line(left, top, left, bottom, ink, 2);
  canvas.text(left, 8, chart.title, ink, 3);
  canvas.text((left + right - Canvas::text_width(chart.x_label)) / 2, bottom + 35, chart.x_label, ink);
  canvas.text(10, top - 16, chart.y_label, ink);
  int legend_y = top + 10;
  for (const Series& s : chart.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      if (i > 0 && std::isfinite(s.y[i - 1])) canvas.line(px(s.x[i - 1]), py(s.y[i - 1]), px(s.x[i]), py(s.y[i]), s.color, 2);
      if (s.markers)
        for (int d = -3; d <= 3; ++d) canvas.line(px(s.x[i]) - 3, py(s.y[i]) + d, px(s.x[i]) + 3, py(s.y[i]) + d, s.color);
    }
    canvas.line(right - 170, legend_y + 5, right - 140, legend_y + 5, s.color, 3);
    canvas.text(right - 130, legend_y, s.label, ink);
    legend_y += 20;
  }
  io::write_png(path, width, height, canvas.rgb());
}

namespace {

std::array<uint8_t, 3> palette(size_t i) {
  static constexpr std::array<std::array<uint8_t, 3>, 8> colors{{{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                                                 {214, 39, 40}, {148, 103, 189}, {140, 86, 75},
                                                                 {227, 119, 194}, {127, 127, 127}}};
  return colors[i % colors.size()];
}

}  // namespace

std::vector<std::filesystem::path> plot_run(const std::filesystem::path& run_dir, const std::filesystem::path& path) {
  const std::filesystem::path metrics = run_dir / "metrics.jsonl";
  std::ifstream in(metrics);
  KILN_CHECK(in.good(), "{}: cannot open (is {} a run folder?)", metrics.string(), run_dir.string());
  Series train{"train loss", {}, {}, palette(0), false};
  Series valid{"validation loss", {}, {}, palette(1), true};
  Series mtp{"MTP loss (depth mean)", {}, {}, palette(2), false};
  std::map<std::string, Series> load;  // per MoE layer: max / mean expert load
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    KILN_CHECK(!record.is_discarded() && record.contains("step"), "{}:{}: not a metrics record", metrics.string(), number);
    const double step = record["step"].get<double>();
    if (record.contains("loss")) {
      train.x.push_back(step);
      train.y.push_back(record["loss"].get<double>());
    }
    if (record.contains("val_loss")) {
      valid.x.push_back(step);
      valid.y.push_back(record["val_loss"].get<double>());
    }
    if (record.contains("mtp_loss")) {
      mtp.x.push_back(step);
      mtp.y.push_back(record["mtp_loss"].get<double>());
    }
    if (record.contains("expert_load_max_mean"))
      for (const auto& [layer, ratio] : record["expert_load_max_mean"].items()) {
        Series& s = load[layer];
        s.x.push_back(step);
        s.y.push_back(ratio.get<double>());
      }
  }
  KILN_CHECK(!train.x.empty(), "{}: no training steps recorded", metrics.string());
  Chart chart{"loss: " + run_dir.filename().string(), "step", "nats per token", {train}};
  if (!valid.x.empty()) chart.series.push_back(valid);
  if (!mtp.x.empty()) chart.series.push_back(mtp);
  draw_chart_png(chart, path);
  std::vector<std::filesystem::path> written{path};
  if (!load.empty()) {
    Chart balance{"expert load (max / mean) per MoE layer: " + run_dir.filename().string(), "step", "max / mean", {}};
    std::vector<std::pair<int, Series>> ordered;
    for (auto& [layer, s] : load) ordered.emplace_back(std::stoi(layer), std::move(s));
    std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [layer, s] : ordered) {
      s.label = fmt::format("layer {}", layer);
      s.color = palette(balance.series.size());
      balance.series.push_back(std::move(s));
    }
    const std::filesystem::path load_path = path.parent_path() / (path.stem().string() + "-expert-load.png");
    draw_chart_png(balance, load_path);
    written.push_back(load_path);
  }
  return written;
}

}  // namespace kiln::train
