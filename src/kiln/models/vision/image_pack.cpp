#include "kiln/models/vision/image_pack.hpp"

#include <cstring>
#include <vector>

#include "kiln/base/error.hpp"
#include "kiln/kernels/cpu/patchify.hpp"

namespace kiln::models {

ImagePackTensors pack_image_tensors(std::span<const Tensor> images, int64_t patch, int64_t merge) {
  KILN_CHECK(!images.empty(), "an image pack needs at least one image");
  const int64_t channels = images[0].dim() == 3 ? images[0].size(0) : 0;
  std::vector<int32_t> cu_v{0};
  for (size_t i = 0; i < images.size(); ++i) {
    const Tensor& image = images[i];
    KILN_CHECK(image.dim() == 3 && image.size(0) == channels && image.dtype() == DType::f32,
               "image {}: expected f32 [{}, H, W] like the first image, got {}", i, channels, image.describe());
    const int64_t h = image.size(1), w = image.size(2);
    KILN_CHECK(h >= patch && w >= patch, "image {}: {}×{} px is smaller than one {}-px patch", i, h, w, patch);
    KILN_CHECK(h % patch == 0 && w % patch == 0, "image {}: {}×{} px is not a multiple of the {}-px patch", i, h, w,
               patch);
    KILN_CHECK((h / patch) % merge == 0 && (w / patch) % merge == 0,
               "image {}: {}×{} patches is not a multiple of merge_size {}", i, h / patch, w / patch, merge);
    KILN_CHECK(cu_v.back() + (h / patch) * (w / patch) <= INT32_MAX, "image pack: more than 2^31 tokens");
    cu_v.push_back(static_cast<int32_t>(cu_v.back() + (h / patch) * (w / patch)));
  }
  const int64_t tokens = cu_v.back(), patch_dim = channels * patch * patch;
  ImagePackTensors pack{Tensor::empty({tokens, patch_dim}),
                        Tensor::from<int32_t>(cu_v, {static_cast<int64_t>(cu_v.size())}),
                        Tensor::empty({2, tokens}, DType::i64)};
  std::vector<int32_t> rows, cols;
  for (size_t i = 0; i < images.size(); ++i) {
    const Tensor image = images[i].contiguous();
    const int64_t gh = image.size(1) / patch, gw = image.size(2) / patch, first = cu_v[i];
    cpu::patchify_merge_order(image.data<float>(), {1, channels, image.size(1), image.size(2), patch}, merge,
                              cpu::PatchLayout::chw, pack.patches.data<float>() + first * patch_dim);
    rows.resize(static_cast<size_t>(gh * gw));
    cols.resize(rows.size());
    cpu::merge_order_positions(gh, gw, merge, rows.data(), cols.data());
    int64_t* grid = pack.positions.data<int64_t>();
    for (int64_t k = 0; k < gh * gw; ++k) {
      grid[first + k] = rows[static_cast<size_t>(k)];
      grid[tokens + first + k] = cols[static_cast<size_t>(k)];
    }
  }
  return pack;
}

ImagePackTensors keep_tokens(const ImagePackTensors& pack, std::span<const std::vector<int32_t>> kept) {
  const std::vector<int32_t> cu = pack.cu_v.to_vector<int32_t>();
  KILN_CHECK(kept.size() + 1 == cu.size(), "keep_tokens: {} kept lists for a pack of {} images", kept.size(),
             cu.size() - 1);
  std::vector<int32_t> cu_kept{0};
  for (size_t i = 0; i < kept.size(); ++i) {
    const int32_t n = cu[i + 1] - cu[i];
    KILN_CHECK(!kept[i].empty(), "keep_tokens: image {} keeps no token", i);
    for (size_t k = 0; k < kept[i].size(); ++k)
      KILN_CHECK(kept[i][k] >= 0 && kept[i][k] < n && (k == 0 || kept[i][k] > kept[i][k - 1]),
                 "keep_tokens: image {}: kept indices must ascend within its {} tokens", i, n);
    cu_kept.push_back(cu_kept.back() + static_cast<int32_t>(kept[i].size()));
  }
  const int64_t tokens = pack.patches.size(0), total = cu_kept.back(), patch_dim = pack.patches.size(1);
  ImagePackTensors out{Tensor::empty({total, patch_dim}),
                       Tensor::from<int32_t>(cu_kept, {static_cast<int64_t>(cu_kept.size())}),
                       Tensor::empty({2, total}, DType::i64)};
  const Tensor patches = pack.patches.contiguous(), positions = pack.positions.contiguous();
  const float* from = patches.data<float>();
  const int64_t* grid = positions.data<int64_t>();
  float* to = out.patches.data<float>();
  int64_t* kept_grid = out.positions.data<int64_t>();
  int64_t row = 0;
  for (size_t i = 0; i < kept.size(); ++i)
    for (const int32_t k : kept[i]) {
      const int64_t source = cu[i] + k;
      std::memcpy(to + row * patch_dim, from + source * patch_dim, static_cast<size_t>(patch_dim) * sizeof(float));
      kept_grid[row] = grid[source];
      kept_grid[total + row] = grid[tokens + source];
      ++row;
    }
  return out;
}

}  // namespace kiln::models
