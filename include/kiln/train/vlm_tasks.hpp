#pragma once
// The two vision-language tasks of SPEC-VLM §7 as streams of samples, each a
// pure function of (seed, split, index):
//  - fashion-canvas: 1–3 Fashion-MNIST garments on canvases of random size
//    and aspect ratio, no prompt; the answer is their class names joined by ", ";
//  - kjv-ocr: a line of KJV text rendered in DejaVu Sans; the answer is the text
//    (kjv-ocr-easy: 1–3 words at a fixed 16 px).
// A sample's token counts come from its layout alone, so a pack is planned
// before any pixel is drawn.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/data/data_split.hpp"
#include "kiln/data/fashion_canvas.hpp"
#include "kiln/data/image_mode.hpp"
#include "kiln/data/kjv_ocr.hpp"
#include "kiln/data/planar_image.hpp"
#include "kiln/data/sample_packing.hpp"
#include "kiln/data/vlm_batch.hpp"

namespace kiln::train {

enum class VlmTaskKind { fashion_canvas, kjv_ocr };

// `data.image_mode` (data/image_mode.hpp); the tasks' fixed sizes are
// Fashion 32×32 (resize) and 88×88 (pad), OCR 16×256 and 24×448.
using data::ImageMode;
using data::parse_image_mode;

VlmTaskKind parse_vlm_task(std::string_view name);  // "fashion-canvas" | "kjv-ocr"
std::string vlm_task_name(VlmTaskKind kind);

struct VlmTaskOptions {
  VlmTaskKind kind = VlmTaskKind::fashion_canvas;
  int64_t patch = 4, merge = 2;       // the vision encoder's P and m
  int64_t patches_per_token = 4;      // m² with a merger, 1 with an MLP projector
  int64_t min_images = 1, max_images = 3;  // fashion-canvas: garments per sample
  bool easy = false;                  // kjv-ocr: the easy variant
  double noise_sigma = 0;             // kjv-ocr: Gaussian pixel noise
  ImageMode image_mode = ImageMode::native;
  data::ResolutionScale resolution_scale;  // fashion-canvas: per-image resolution sampling, train split only
};

// The task's input normalisation, in place: Fashion-MNIST's mean and std for
// garments, (x − 0.5)/0.5 for rendered text.
void normalize_task_pixels(data::PlanarImage& image, VlmTaskKind kind);

// `image` (intensities, before normalisation) as the task's image mode shapes it.
data::PlanarImage shape_for_mode(data::PlanarImage image, const VlmTaskOptions& options);

// Merge-ordered patches of a normalised image (sides multiples of patch·merge).
data::SampleImage sample_image(const data::PlanarImage& image, int64_t patch, int64_t merge);

class VlmTask {
 public:
  VlmTask(const VlmTaskOptions& options, data::DataSplit split);
  ~VlmTask();
  VlmTask(VlmTask&&) noexcept;

  // Images' ViT tokens and the LLM tokens of sample `index`, without drawing it.
  data::SampleTokens tokens(uint64_t seed, int64_t index) const;
  data::VlmSample sample(uint64_t seed, int64_t index) const;
  // Images per sample (for per-image scores) and the sample's answer alone.
  std::vector<std::string> answer_parts(const std::string& answer) const;
  const VlmTaskOptions& options() const { return options_; }

 private:
  int64_t garment_count(uint64_t seed, int64_t index) const;
  int64_t image_tokens(data::ImageSize native) const;
  VlmTaskOptions options_;
  std::unique_ptr<data::FashionCanvases> fashion_;
  std::unique_ptr<data::KjvOcrLines> ocr_;
};

// Levenshtein distance over bytes (the character error rate's numerator).
int64_t edit_distance(std::string_view a, std::string_view b);
// The words of `text` (runs between spaces) and the Levenshtein distance over
// them (the word error rate's numerator).
std::vector<std::string_view> split_words(std::string_view text);
int64_t word_edit_distance(std::string_view a, std::string_view b);

}  // namespace kiln::train
