#include "kiln/train/vlm_tasks.hpp"

#include <algorithm>

#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/base/printable.hpp"
#include "kiln/kernels/cpu/patchify.hpp"

namespace kiln::train {

namespace {

// kjv-ocr pixels (ink 1 on 0) are centred on 0 with unit-ish spread.
constexpr double kOcrPixelMean = 0.5, kOcrPixelStd = 0.5;
// Fashion canvases of one sample are consecutive canvas indices.
constexpr int64_t kCanvasesPerSample = 4;
constexpr uint64_t kGarmentCountStream = 0x6761'726d'656e'7473ULL;

// The resize and pad modes' one image size. The pad canvas must hold every
// native image: a Fashion canvas has area ≤ 64² but an aspect ratio up to 2
// (§7.1: Hc ≤ 2.12 s against Wc ≥ 1.06 s), so a side reaches 88 px
// (smart_resize of a 2:1 canvas: 88×40 or 40×88). SPEC-VLM §7.2 says 64×64,
// which a 40×80 canvas does not fit; 88×88 is the smallest square that
// holds them all.
data::ImageSize fixed_size(const VlmTaskOptions& options) {
  const bool fashion = options.kind == VlmTaskKind::fashion_canvas;
  if (options.image_mode == ImageMode::resize) return fashion ? data::ImageSize{32, 32} : data::ImageSize{16, 256};
  return fashion ? data::ImageSize{88, 88} : data::ImageSize{24, 448};
}

int64_t llm_tokens(const std::vector<int64_t>& image_tokens, int64_t per_token, size_t answer_bytes) {
  int64_t n = 0;
  for (int64_t t : image_tokens) n += 2 + t / per_token;
  return n + static_cast<int64_t>(answer_bytes) + 1;
}

}  // namespace

VlmTaskKind parse_vlm_task(std::string_view name) {
  if (name == "fashion-canvas") return VlmTaskKind::fashion_canvas;
  if (name == "kjv-ocr") return VlmTaskKind::kjv_ocr;
  fail("data.task must be fashion-canvas or kjv-ocr, got '{}'", printable(name));
}

std::string vlm_task_name(VlmTaskKind kind) {
  return kind == VlmTaskKind::fashion_canvas ? "fashion-canvas" : "kjv-ocr";
}

void normalize_task_pixels(data::PlanarImage& image, VlmTaskKind kind) {
  if (kind == VlmTaskKind::fashion_canvas) data::normalize_pixels(image, data::kFashionPixelMean, data::kFashionPixelStd);
  else data::normalize_pixels(image, kOcrPixelMean, kOcrPixelStd);
}

data::SampleImage sample_image(const data::PlanarImage& image, int64_t patch, int64_t merge) {
  const int64_t f = patch * merge;
  KILN_CHECK(image.height % f == 0 && image.width % f == 0,
             "a {}×{} px image is not a multiple of patch·merge = {} on both sides", image.height, image.width, f);
  data::SampleImage out{image.height / patch, image.width / patch, {}};
  out.patches.resize(image.pixels.size());
  cpu::patchify_merge_order(image.pixels.data(), {1, image.channels, image.height, image.width, patch}, merge,
                            cpu::PatchLayout::chw, out.patches.data());
  return out;
}

VlmTask::VlmTask(const VlmTaskOptions& options, data::DataSplit split) : options_(options) {
  KILN_CHECK(options.min_images >= 1 && options.min_images <= options.max_images && options.max_images <= 3,
             "data.images_per_sample must be [lo, hi] with 1 ≤ lo ≤ hi ≤ 3, got [{}, {}]", options.min_images,
             options.max_images);
  data::ResizeLimits limits = data::kFashionCanvasLimits;
  limits.patch = options.patch;
  limits.merge = options.merge;
  if (options.kind == VlmTaskKind::fashion_canvas) {
    // Resolution sampling is a training augmentation: test canvases keep their drawn size.
    const data::ResolutionScale scale = split == data::DataSplit::train ? options.resolution_scale : data::ResolutionScale{};
    fashion_ = std::make_unique<data::FashionCanvases>(split, limits, data::kFashionMnistDir, scale);
  } else {
    data::OcrOptions ocr;
    ocr.easy = options.easy;
    ocr.noise_sigma = options.noise_sigma;
    ocr_ = std::make_unique<data::KjvOcrLines>(split, ocr);
  }
}

VlmTask::~VlmTask() = default;
VlmTask::VlmTask(VlmTask&&) noexcept = default;

int64_t VlmTask::garment_count(uint64_t seed, int64_t index) const {
  const int64_t span = options_.max_images - options_.min_images + 1;
  const auto bits = philox_block({seed, kGarmentCountStream}, static_cast<uint64_t>(index))[0];
  return options_.min_images + static_cast<int64_t>(bits % static_cast<uint32_t>(span));
}

int64_t VlmTask::image_tokens(data::ImageSize native) const {
  const data::ImageSize size = options_.image_mode == ImageMode::native ? native : fixed_size(options_);
  return size.height * size.width / (options_.patch * options_.patch);
}

data::PlanarImage shape_for_mode(data::PlanarImage image, const VlmTaskOptions& options) {
  return data::shape_image(std::move(image), options.image_mode, fixed_size(options));
}

data::SampleTokens VlmTask::tokens(uint64_t seed, int64_t index) const {
  data::SampleTokens t;
  size_t answer_bytes = 0;
  if (fashion_) {
    const int64_t count = garment_count(seed, index);
    for (int64_t g = 0; g < count; ++g) {
      const data::FashionCanvasLayout layout = fashion_->layout(seed, index * kCanvasesPerSample + g);
      t.image_tokens.push_back(image_tokens(layout.resized));
      answer_bytes += data::kFashionClassNames[fashion_->label(layout.garment)].size() + (g > 0 ? 2 : 0);
    }
  } else {
    const data::OcrLineLayout layout = ocr_->layout(seed, index);
    t.image_tokens.push_back(image_tokens(layout.size));
    answer_bytes = layout.text.size();
  }
  t.llm_tokens = llm_tokens(t.image_tokens, options_.patches_per_token, answer_bytes);
  return t;
}

data::VlmSample VlmTask::sample(uint64_t seed, int64_t index) const {
  data::VlmSample s;
  if (fashion_) {
    const int64_t count = garment_count(seed, index);
    for (int64_t g = 0; g < count; ++g) {
      data::LabelledImage canvas = fashion_->canvas(seed, index * kCanvasesPerSample + g);
      data::PlanarImage image = shape_for_mode(std::move(canvas.image), options_);
      normalize_task_pixels(image, options_.kind);
      s.images.push_back(sample_image(image, options_.patch, options_.merge));
      s.answer += (g > 0 ? ", " : "") + std::string(data::kFashionClassNames[canvas.label]);
    }
  } else {
    data::OcrLine line = ocr_->line(seed, index);
    data::PlanarImage image = shape_for_mode(std::move(line.image), options_);
    normalize_task_pixels(image, options_.kind);
    s.images.push_back(sample_image(image, options_.patch, options_.merge));
    s.answer = line.layout.text;
  }
  return s;
}

std::vector<std::string> VlmTask::answer_parts(const std::string& answer) const {
  if (!fashion_) return {answer};
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t comma = answer.find(", ", start);
    parts.push_back(answer.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 2;
  }
  return parts;
}

namespace {

// Levenshtein distance between two sequences, one row of the table at a time.
template <typename Sequence>
int64_t levenshtein(const Sequence& a, const Sequence& b) {
  std::vector<int64_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int64_t>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int64_t diagonal = row[0];
    row[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int64_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

int64_t edit_distance(std::string_view a, std::string_view b) { return levenshtein(a, b); }

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  size_t start = 0;
  while (start < text.size()) {
    const size_t space = text.find(' ', start);
    const size_t end = space == std::string_view::npos ? text.size() : space;
    if (end > start) words.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return words;
}

int64_t word_edit_distance(std::string_view a, std::string_view b) { return levenshtein(split_words(a), split_words(b)); }

}  // namespace kiln::train
