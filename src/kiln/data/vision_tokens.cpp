#include "kiln/data/vision_tokens.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>

#include "kiln/base/error.hpp"

namespace kiln::data {

namespace {

// transformers' max_pixels branch: scale both sides by 1/β so the area is at
// most max_pixels, then floor each to a multiple of F (never below F).
ImageSize shrink_to_max_pixels(double height, double width, int64_t factor, int64_t max_pixels) {
  const double beta = std::sqrt(height * width / static_cast<double>(max_pixels));
  const auto side = [&](double x) {
    return std::max(factor, factor * static_cast<int64_t>(std::floor(x / beta / static_cast<double>(factor))));
  };
  return {side(height), side(width)};
}

// transformers' min_pixels branch: scale by β so the area reaches
// min_pixels, then ceil each side to a multiple of F.
ImageSize grow_to_min_pixels(double height, double width, int64_t factor, int64_t min_pixels) {
  const double beta = std::sqrt(static_cast<double>(min_pixels) / (height * width));
  const auto side = [&](double x) {
    return factor * static_cast<int64_t>(std::ceil(x * beta / static_cast<double>(factor)));
  };
  return {side(height), side(width)};
}

// Python's round(x / F) · F, never below F. std::nearbyint rounds half to
// even in the default rounding mode; std::round would round half away from 0.
int64_t round_to_factor(int64_t x, int64_t factor) {
  const double units = std::nearbyint(static_cast<double>(x) / static_cast<double>(factor));
  return std::max(factor, factor * static_cast<int64_t>(units));
}

}  // namespace

void check_resize_limits(const ResizeLimits& limits) {
  KILN_CHECK(limits.patch >= 1 && limits.merge >= 1, "vision: patch_size ({}) and merge_size ({}) must be positive",
             limits.patch, limits.merge);
  const int64_t factor = limits.patch * limits.merge;
  KILN_CHECK(limits.min_pixels <= limits.max_pixels, "vision.min_pixels ({}) > vision.max_pixels ({})",
             limits.min_pixels, limits.max_pixels);
  KILN_CHECK(limits.min_pixels >= factor * factor, "vision.min_pixels ({}) < (patch_size·merge_size)² = {}",
             limits.min_pixels, factor * factor);
  KILN_CHECK(limits.max_ratio >= 1, "vision.max_ratio ({}) must be at least 1", limits.max_ratio);
}

ImageSize smart_resize(ImageSize size, const ResizeLimits& limits, std::string_view image) {
  check_resize_limits(limits);
  const auto [height, width] = size;
  KILN_CHECK(height >= limits.patch && width >= limits.patch, "{}: {}×{} px is smaller than one {}-px patch", image,
             height, width, limits.patch);
  const double aspect = static_cast<double>(std::max(height, width)) / static_cast<double>(std::min(height, width));
  KILN_CHECK(aspect <= limits.max_ratio, "{}: aspect {:.1f} exceeds vision.max_ratio = {}", image, aspect,
             limits.max_ratio);

  const int64_t factor = limits.patch * limits.merge;
  const ImageSize rounded{round_to_factor(height, factor), round_to_factor(width, factor)};
  const auto h = static_cast<double>(height), w = static_cast<double>(width);
  if (rounded.height * rounded.width > limits.max_pixels) return shrink_to_max_pixels(h, w, factor, limits.max_pixels);
  if (rounded.height * rounded.width >= limits.min_pixels) return rounded;
  const ImageSize grown = grow_to_min_pixels(h, w, factor, limits.min_pixels);
  // qwen-vl-utils only: growing a very thin image to min_pixels can overshoot max_pixels.
  if (grown.height * grown.width <= limits.max_pixels) return grown;
  return shrink_to_max_pixels(static_cast<double>(grown.height), static_cast<double>(grown.width), factor,
                              limits.max_pixels);
}

PackingPolicy parse_packing_policy(std::string_view text, std::string_view key) {
  if (text == "next_fit") return {PackingPolicy::Kind::next_fit, 0};
  constexpr std::string_view ffd = "ffd:";
  if (text.starts_with(ffd)) {
    const std::string_view digits = text.substr(ffd.size());
    int64_t window = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), window);
    if (error == std::errc() && end == digits.data() + digits.size() && window >= 1)
      return {PackingPolicy::Kind::first_fit_decreasing, window};
  }
  fail("{} = \"{}\": expected \"next_fit\" or \"ffd:K\" with a window K ≥ 1", key, text);
}

namespace {

void check_token_counts(std::span<const int64_t> token_counts, int64_t max_tokens) {
  KILN_CHECK(max_tokens >= 1 && max_tokens <= std::numeric_limits<int32_t>::max(),
             "vision.max_tokens = {}: expected 1 to {} (cu_seqlens are int32)", max_tokens,
             std::numeric_limits<int32_t>::max());
  for (size_t i = 0; i < token_counts.size(); ++i) {
    KILN_CHECK(token_counts[i] >= 1, "image {} has {} tokens (every image keeps at least one)", i, token_counts[i]);
    KILN_CHECK(token_counts[i] <= max_tokens, "image {} needs {} tokens > vision.max_tokens {}", i, token_counts[i],
               max_tokens);
  }
}

void append_image(ImagePack& pack, int64_t image, int64_t tokens) {
  pack.images.push_back(image);
  pack.cu_seqlens.push_back(pack.cu_seqlens.back() + static_cast<int32_t>(tokens));
}

ImagePack new_pack() { return ImagePack{{}, {0}}; }

int64_t room(const ImagePack& pack, int64_t max_tokens) { return max_tokens - pack.cu_seqlens.back(); }

std::vector<ImagePack> next_fit(std::span<const int64_t> token_counts, int64_t max_tokens) {
  std::vector<ImagePack> packs;
  for (size_t i = 0; i < token_counts.size(); ++i) {
    if (packs.empty() || room(packs.back(), max_tokens) < token_counts[i]) packs.push_back(new_pack());
    append_image(packs.back(), static_cast<int64_t>(i), token_counts[i]);
  }
  return packs;
}

// First-fit decreasing inside each window of `window` consecutive images; a
// window's packs are closed when the next window starts, so the data order
// is kept at window granularity.
std::vector<ImagePack> first_fit_decreasing(std::span<const int64_t> token_counts, int64_t max_tokens,
                                            int64_t window) {
  std::vector<ImagePack> packs;
  const auto n = static_cast<int64_t>(token_counts.size());
  for (int64_t start = 0; start < n; start += window) {
    std::vector<int64_t> order(static_cast<size_t>(std::min(window, n - start)));
    std::iota(order.begin(), order.end(), start);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return token_counts[a] > token_counts[b]; });
    const size_t first_pack = packs.size();
    for (int64_t image : order) {
      auto fits = [&](const ImagePack& p) { return room(p, max_tokens) >= token_counts[image]; };
      auto pack = std::find_if(packs.begin() + static_cast<std::ptrdiff_t>(first_pack), packs.end(), fits);
      if (pack == packs.end()) pack = packs.insert(packs.end(), new_pack());
      append_image(*pack, image, token_counts[image]);
    }
  }
  return packs;
}

}  // namespace

std::vector<ImagePack> pack_images(std::span<const int64_t> token_counts, int64_t max_tokens,
                                   const PackingPolicy& policy) {
  check_token_counts(token_counts, max_tokens);
  if (policy.kind == PackingPolicy::Kind::next_fit) return next_fit(token_counts, max_tokens);
  KILN_CHECK(policy.window >= 1, "vision.packing: ffd window {} must be at least 1", policy.window);
  return first_fit_decreasing(token_counts, max_tokens, policy.window);
}

}  // namespace kiln::data
