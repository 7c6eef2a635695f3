#include "kiln/data/fashion_canvas.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "random_draws.hpp"

namespace kiln::data {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kGarmentSide = 28;
constexpr uint64_t kCanvasStream = 0x6663616e76617300ULL;  // "fcanvas"

// Python's round (half to even): std::nearbyint in the default rounding mode.
int64_t round_half_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

ImageSet read_garments(DataSplit split, const fs::path& dir) {
  const std::string prefix = (dir / (split == DataSplit::train ? "train" : "t10k")).string();
  const std::string images = prefix + "-images-idx3-ubyte";
  KILN_CHECK(fs::exists(images + ".gz") || fs::exists(images),
             "fashion-canvas: {}(.gz) missing (apt-get install dataset-fashion-mnist)", images);
  ImageSet set = read_idx_set(prefix);
  KILN_CHECK(set.images.size(1) == kGarmentSide && set.images.size(2) == kGarmentSide,
             "fashion-canvas: {} holds {}×{} images; Fashion-MNIST's are 28×28", images, set.images.size(1),
             set.images.size(2));
  KILN_CHECK(set.classes <= static_cast<int64_t>(kFashionClassNames.size()),
             "fashion-canvas: {} has label {}; Fashion-MNIST has 10 classes", prefix, set.classes - 1);
  return set;
}

}  // namespace

void check_resolution_scale(const ResolutionScale& scale) {
  KILN_CHECK(scale.lo > 0 && scale.lo <= scale.hi && scale.hi <= 8,
             "data.resolution_scale = [{}, {}] must satisfy 0 < lo ≤ hi ≤ 8", scale.lo, scale.hi);
}

FashionCanvases::FashionCanvases(DataSplit split, const ResizeLimits& limits, const fs::path& dir,
                                 ResolutionScale scale)
    : split_(split), limits_(limits), garments_(read_garments(split, dir)), scale_(scale) {
  check_resize_limits(limits_);
  check_resolution_scale(scale_);
}

int64_t FashionCanvases::label(int64_t garment) const {
  KILN_CHECK(garment >= 0 && garment < garments(), "fashion-canvas: garment {} outside 0..{}", garment,
             garments() - 1);
  return garments_.labels.data<int64_t>()[garment];
}

FashionCanvasLayout FashionCanvases::layout(uint64_t seed, int64_t index) const {
  KILN_CHECK(index >= 0, "fashion-canvas: index {} is negative", index);
  const PhiloxKey key{seed, kCanvasStream | static_cast<uint64_t>(split_)};
  const auto first = philox_block(key, 2 * static_cast<uint64_t>(index));
  const auto second = philox_block(key, 2 * static_cast<uint64_t>(index) + 1);

  FashionCanvasLayout out;
  out.garment = index % garments();
  const int64_t s = round_half_even(kGarmentSide * uniform_real(first[0], 0.57, 2.0));
  const double aspect = std::exp(uniform_real(first[1], std::log(0.5), std::log(2.0)));
  const double area = uniform_real(first[2], 1.0, 2.25);
  out.garment_side = s;
  out.canvas = {std::max(s, round_half_even(static_cast<double>(s) * std::sqrt(area / aspect))),
                std::max(s, round_half_even(static_cast<double>(s) * std::sqrt(area * aspect)))};
  out.offset_y = uniform_int(first[3], 0, out.canvas.height - s);
  out.offset_x = uniform_int(second[0], 0, out.canvas.width - s);
  ImageSize sampled = out.canvas;
  if (!scale_.none()) {  // a lane no other draw uses: without a scale every canvas stays as it was
    out.scale = std::exp(uniform_real(second[1], std::log(scale_.lo), std::log(scale_.hi)));
    // At least one merge block a side: smart_resize refuses a side under one patch.
    const int64_t unit = limits_.patch * limits_.merge;
    sampled = {std::max(unit, round_half_even(static_cast<double>(out.canvas.height) * out.scale)),
               std::max(unit, round_half_even(static_cast<double>(out.canvas.width) * out.scale))};
  }
  out.resized = smart_resize(sampled, limits_, "fashion-canvas image " + std::to_string(index));
  return out;
}

PlanarImage FashionCanvases::garment_image(int64_t garment) const {
  constexpr int64_t pixels = kGarmentSide * kGarmentSide;
  return image_from_bytes(garments_.images.data<uint8_t>() + garment * pixels, 1, kGarmentSide, kGarmentSide);
}

LabelledImage FashionCanvases::canvas(uint64_t seed, int64_t index) const {
  const FashionCanvasLayout l = layout(seed, index);
  const PlanarImage garment = resize_image(garment_image(l.garment), {l.garment_side, l.garment_side});
  PlanarImage canvas = PlanarImage::filled(1, l.canvas.height, l.canvas.width, 0.0f);
  for (int64_t y = 0; y < l.garment_side; ++y)
    std::copy_n(&garment.pixels[static_cast<size_t>(y * l.garment_side)], l.garment_side,
                &canvas.at(0, l.offset_y + y, l.offset_x));
  return {resize_image(canvas, l.resized), label(l.garment)};
}

LabelledImage FashionCanvases::square(int64_t index, int64_t side) const {
  KILN_CHECK(index >= 0, "fashion-canvas: index {} is negative", index);
  KILN_CHECK(side >= 1, "fashion-canvas: square side {} px must be ≥ 1", side);
  const int64_t garment = index % garments();
  return {resize_image(garment_image(garment), {side, side}), label(garment)};
}

}  // namespace kiln::data
