#pragma once
// Fashion-MNIST garments on canvases of random size and aspect ratio
// (SPEC-VLM §7.1), the native-resolution classification task. A canvas is a
// pure function of (seed, split, index) through Philox:
//  1. garment side s = round(28u), u ~ U(0.57, 2.0), so s ∈ [16, 56]; the
//     28×28 garment is resampled to s×s;
//  2. canvas aspect a = exp(U(ln ½, ln 2)) and area factor k ~ U(1, 2.25):
//     Hc = max(s, round(s√(k/a))), Wc = max(s, round(s√(ka))); the garment is
//     pasted at a uniform offset on a background of 0;
//  3. smart_resize with F = patch·merge = 8 and 16² ≤ pixels ≤ 64² (the
//     defaults below), and the canvas resampled if that changed its size.
// Training can also sample each image's resolution (SPEC-VLM §1.6, NaViT):
// with a ResolutionScale other than [1, 1], the canvas's sides are scaled by
// one factor f, log-uniform on [lo, hi], before step 3 (so the aspect ratio
// is kept up to rounding, and smart_resize still bounds the pixels).
// Rounding is half to even (Python's round). Resampling is resize_image's
// (planar_image.hpp). Pixels are intensities in [0, 1]; the model's input
// is normalize_pixels(image, kFashionPixelMean, kFashionPixelStd), as kiln vit
// normalises. Index i shows garment i mod (garments in the split) with its
// own draws, so indices past one epoch give the same garments on new canvases.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "kiln/data/data_split.hpp"
#include "kiln/data/images.hpp"
#include "kiln/data/planar_image.hpp"
#include "kiln/data/vision_tokens.hpp"

namespace kiln::data {

// The answers of the vision-language task, in label order.
inline constexpr std::array<std::string_view, 10> kFashionClassNames = {
    "t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"};

// Fashion-MNIST's pixel mean and standard deviation (intensities in [0, 1]),
// the normalisation of kiln vit.
inline constexpr double kFashionPixelMean = 0.2860, kFashionPixelStd = 0.3530;

// The square test sweep: garments resampled to side×side, 80 px being beyond
// anything a canvas reaches (64² pixels at most).
inline constexpr std::array<int64_t, 6> kFashionSweepSides = {16, 24, 32, 48, 64, 80};

inline constexpr std::string_view kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// The range of the per-image resolution factor (data.resolution_scale);
// [1, 1] draws nothing and leaves every canvas as it was.
struct ResolutionScale {
  double lo = 1, hi = 1;
  bool none() const { return lo == 1 && hi == 1; }
};

// One line for a range that is not 0 < lo ≤ hi ≤ 8.
void check_resolution_scale(const ResolutionScale& scale);

// Where a canvas puts its garment, without drawing it: enough to count the
// image's tokens (resized.height·resized.width / patch²) before rendering.
struct FashionCanvasLayout {
  int64_t garment = 0;       // index of the garment in the split
  int64_t garment_side = 0;  // s
  ImageSize canvas;          // (Hc, Wc) before smart_resize
  double scale = 1;          // the sampled resolution factor (1 without a ResolutionScale)
  int64_t offset_y = 0, offset_x = 0;  // the garment's top-left corner on the canvas
  ImageSize resized;         // smart_resize(canvas · scale): the image's final size
};

struct LabelledImage {
  PlanarImage image;  // one channel, intensities in [0, 1]
  int64_t label = 0;
};

// §7.1's sizes: 4-px patches merged 2×2 (F = 8), 16² ≤ pixels ≤ 64².
inline constexpr ResizeLimits kFashionCanvasLimits{
    .patch = 4, .merge = 2, .min_pixels = 16 * 16, .max_pixels = 64 * 64};

class FashionCanvases {
 public:
  // The split's garments from `dir` (train-* for train, t10k-* for test,
  // IDX, gzip or plain). A missing data set is one error naming the package.
  explicit FashionCanvases(DataSplit split, const ResizeLimits& limits = kFashionCanvasLimits,
                           const std::filesystem::path& dir = kFashionMnistDir, ResolutionScale scale = {});

  DataSplit split() const { return split_; }
  int64_t garments() const { return garments_.images.size(0); }
  int64_t label(int64_t garment) const;

  FashionCanvasLayout layout(uint64_t seed, int64_t index) const;
  LabelledImage canvas(uint64_t seed, int64_t index) const;
  // Garment `index` (mod garments) resampled to side×side, no canvas: the
  // resolution sweep's test images.
  LabelledImage square(int64_t index, int64_t side) const;

 private:
  PlanarImage garment_image(int64_t garment) const;

  DataSplit split_;
  ResizeLimits limits_;
  ImageSet garments_;
  ResolutionScale scale_;
};

}  // namespace kiln::data
