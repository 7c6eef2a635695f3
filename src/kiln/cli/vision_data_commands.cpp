// `kiln data render-ocr` and `kiln data fashion-canvas`: PNG previews of the
// two generated vision-language tasks (SPEC-VLM §7), each sample a pure
// function of (seed, split, index), with a TSV of answers and sizes.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "kiln/base/error.hpp"
#include "kiln/base/progress.hpp"
#include "kiln/cli/commands.hpp"
#include "kiln/data/fashion_canvas.hpp"
#include "kiln/data/kjv_ocr.hpp"
#include "kiln/io/atomic_file.hpp"
#include "kiln/io/png.hpp"

namespace kiln::cli {

namespace fs = std::filesystem;

namespace {

// Tokens are counted at §7's 4-px patches.
constexpr int64_t kPreviewPatch = 4;

struct PreviewArgs {
  int64_t count = 20;
  fs::path out;
  uint64_t seed = 0;
  std::string split = "train";
  bool easy = false, noise = false;
  int64_t side = 0;  // fashion-canvas: square sweep side instead of canvases
};

// Totals for the summary line: the spec quotes the share of 16-px lines, the
// mean width and the mean patches per image.
struct SizeStats {
  int64_t images = 0, height16 = 0, width_sum = 0, patch_sum = 0;
  int64_t min_side = std::numeric_limits<int64_t>::max(), max_side = 0;

  void add(const data::ImageSize& size) {
    ++images;
    height16 += size.height == 16;
    width_sum += size.width;
    patch_sum += (size.height / kPreviewPatch) * (size.width / kPreviewPatch);
    min_side = std::min({min_side, size.height, size.width});
    max_side = std::max({max_side, size.height, size.width});
  }
  double mean(int64_t sum) const { return images ? static_cast<double>(sum) / static_cast<double>(images) : 0.0; }
};

std::string png_name(int64_t index) { return fmt::format("{:05d}.png", index); }

void write_text_file(const fs::path& path, const std::string& text) {
  io::AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

void write_png(const fs::path& path, const data::PlanarImage& image) {
  io::write_png(path, static_cast<int>(image.width), static_cast<int>(image.height), data::preview_rgb(image));
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void check_preview_args(const PreviewArgs& a) {
  KILN_CHECK(a.count >= 1 && a.count <= 1000000, "-n {}: expected 1 to 1,000,000 images", a.count);
  KILN_CHECK(a.side >= 0 && a.side <= 1024, "--side {}: expected 1 to 1024 px (0: canvases)", a.side);
  fs::create_directories(a.out);
}

void render_ocr(const PreviewArgs& a) {
  const auto start = std::chrono::steady_clock::now();
  const data::DataSplit split = data::parse_data_split(a.split, "--split");
  check_preview_args(a);
  const data::KjvOcrLines lines(split, {.easy = a.easy, .noise_sigma = a.noise ? 0.05 : 0.0});
  std::string tsv = "file\ttext\tpixel_height\theight\twidth\n";
  SizeStats stats;
  {
    ProgressBar bar("render-ocr", a.count, "line");
    for (int64_t i = 0; i < a.count; ++i) {
      const data::OcrLine line = lines.line(a.seed, i);
      write_png(a.out / png_name(i), line.image);
      tsv += fmt::format("{}\t{}\t{}\t{}\t{}\n", png_name(i), line.layout.text, line.layout.style.pixel_height,
                         line.image.height, line.image.width);
      stats.add(line.image.size());
      bar.update(i + 1);
    }
    bar.finish();
  }
  write_text_file(a.out / "texts.tsv", tsv);
  fmt::print("render-ocr: {} {}lines ({} split, seed {}) in {}: {:.1f}% 16 px high, mean width {:.1f} px, mean {:.1f} "
             "patches at P = {} ({:.1f} s)\n",
             a.count, a.easy ? "easy " : "", a.split, a.seed, a.out.string(),
             100.0 * stats.mean(stats.height16), stats.mean(stats.width_sum), stats.mean(stats.patch_sum),
             kPreviewPatch, seconds_since(start));
}

void render_fashion_canvases(const PreviewArgs& a) {
  const auto start = std::chrono::steady_clock::now();
  const data::DataSplit split = data::parse_data_split(a.split, "--split");
  check_preview_args(a);
  const data::FashionCanvases canvases(split);
  std::string tsv = "file\tlabel\tclass\theight\twidth\n";
  SizeStats stats;
  {
    ProgressBar bar("fashion-canvas", a.count, "image");
    for (int64_t i = 0; i < a.count; ++i) {
      const data::LabelledImage image = a.side > 0 ? canvases.square(i, a.side) : canvases.canvas(a.seed, i);
      write_png(a.out / png_name(i), image.image);
      tsv += fmt::format("{}\t{}\t{}\t{}\t{}\n", png_name(i), image.label,
                         data::kFashionClassNames[static_cast<size_t>(image.label)], image.image.height,
                         image.image.width);
      stats.add(image.image.size());
      bar.update(i + 1);
    }
    bar.finish();
  }
  write_text_file(a.out / "labels.tsv", tsv);
  const std::string what = a.side > 0 ? fmt::format("{}×{} squares", a.side, a.side) : "canvases";
  fmt::print("fashion-canvas: {} {} ({} split, seed {}) in {}: sides {}–{} px, mean {:.1f} patches at P = {} "
             "({:.1f} s)\n",
             a.count, what, a.split, a.seed, a.out.string(), stats.min_side, stats.max_side,
             stats.mean(stats.patch_sum), kPreviewPatch, seconds_since(start));
}

void add_common_options(CLI::App* cmd, PreviewArgs& a) {
  cmd->add_option("-n,--count", a.count, "Number of images (indices 0 … n − 1)")->capture_default_str();
  cmd->add_option("--out", a.out, "Output folder: NNNNN.png and a TSV")->required();
  cmd->add_option("--seed", a.seed, "Seed: the same seed, split and index give the same image")->capture_default_str();
  cmd->add_option("--split", a.split, "train or test")->capture_default_str();
}

}  // namespace

void add_vision_data_commands(CLI::App& app) {
  CLI::App* data_cmd = app.get_subcommand("data");

  auto ocr = std::make_shared<PreviewArgs>();
  CLI::App* ocr_cmd = data_cmd->add_subcommand(
      "render-ocr",
      "Render KJV OCR lines (spans of up to 8 words, ≤ 48 characters, in DejaVu Sans at 12–18 px) to PNGs, with "
      "texts.tsv (docs/vlm.md)");
  add_common_options(ocr_cmd, *ocr);
  ocr_cmd->add_flag("--easy", ocr->easy, "The easy variant: 1–3 words at a fixed 16 px");
  ocr_cmd->add_flag("--noise", ocr->noise, "Add Gaussian pixel noise (σ = 0.05)");
  ocr_cmd->callback([ocr] { render_ocr(*ocr); });

  auto fashion = std::make_shared<PreviewArgs>();
  CLI::App* fashion_cmd = data_cmd->add_subcommand(
      "fashion-canvas",
      "Render Fashion-MNIST garments on canvases of random size and aspect ratio (sides multiples of 8, 16² to 64² "
      "pixels) to PNGs, with labels.tsv (docs/vlm.md)");
  add_common_options(fashion_cmd, *fashion);
  fashion_cmd->add_option("--side", fashion->side, "Write the garments as side×side squares (the resolution sweep)");
  fashion_cmd->callback([fashion] { render_fashion_canvases(*fashion); });
}

}  // namespace kiln::cli
