// Window attention in the vision encoder (SPEC-VLM §4): the window index and
// cu_w of the spec's worked example, windows that never cross images, a
// window covering the grid equal to full attention, the output back in merge
// order (all layers full: the unwindowed model's outputs and gradients), a
// windowed layer that sees only its window, and the §11 configuration errors.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/models/vision/image_pack.hpp"
#include "kiln/models/vision/image_segments.hpp"
#include "kiln/models/vision/vision_encoder.hpp"
#include "kiln/models/vision/window_attention.hpp"
#include "support/error_text.hpp"
#include "support/reference.hpp"

namespace kiln::models {
namespace {

using kiln::testing::error_of;

// Images of the given patch grids (patch 2, one channel), random pixels, packed in merge order.
ImagePackTensors pack_of(const std::vector<std::pair<int64_t, int64_t>>& grids, uint64_t seed) {
  std::vector<Tensor> images;
  uint64_t counter = 0;
  for (const auto& [rows, cols] : grids) {
    Tensor image = Tensor::empty({1, 2 * rows, 2 * cols}, DType::f32);
    float* p = image.data<float>();
    for (int64_t i = 0; i < image.numel(); ++i) p[i] = static_cast<float>(philox_normal({seed, 1}, counter++));
    images.push_back(image);
  }
  return pack_image_tensors(images, 2, 2);
}

ImageSegments segments_of(const ImagePackTensors& pack) {
  return image_segments(pack.cu_v, pack.positions, pack.patches.size(0));
}

TEST(WindowAttention, SpecExample) {
  // 12×20 patches, m = 2, W = 8: 6×10 units in windows of 4×4 units.
  const ImagePackTensors pack = pack_of({{12, 20}}, 1);
  const WindowPartition p = window_partition(segments_of(pack), 2, 8);
  EXPECT_EQ(p.cu_w, (std::vector<int64_t>{0, 64, 128, 160, 192, 224, 240}));
  ASSERT_EQ(p.index.size(), 240u);
  // Window 0 holds units (0, 0..3), (1, 0..3), …: its fifth unit is (1, 0), tokens 40..43 in merge order.
  EXPECT_EQ(std::vector<int64_t>(p.index.begin(), p.index.begin() + 8), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(std::vector<int64_t>(p.index.begin() + 16, p.index.begin() + 20), (std::vector<int64_t>{40, 41, 42, 43}));
  // Window 2 (rows 0–3, cols 8–9) starts with unit (0, 8): tokens 32..35.
  EXPECT_EQ(p.index[128], 32);
  std::vector<int64_t> sorted = p.index;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t k = 0; k < 240; ++k) EXPECT_EQ(sorted[static_cast<size_t>(k)], k);  // a permutation
}

TEST(WindowAttention, WindowsStayInsideTheirImages) {
  const ImagePackTensors pack = pack_of({{4, 6}, {2, 2}, {6, 4}}, 2);
  const WindowPartition p = window_partition(segments_of(pack), 2, 4);
  // Image 0: 2×3 units → windows of 2×2 and 2×1 units; image 1: one unit; image 2: 3×2 units → 2×2 and 1×2.
  EXPECT_EQ(p.cu_w, (std::vector<int64_t>{0, 16, 24, 28, 44, 52}));
  const auto cu = pack.cu_v.to(DType::i64).to_vector<int64_t>();
  for (size_t w = 0; w + 1 < p.cu_w.size(); ++w)
    for (int64_t k = p.cu_w[w]; k < p.cu_w[w + 1]; ++k) {
      const int64_t token = p.index[static_cast<size_t>(k)];
      const auto image = std::upper_bound(cu.begin(), cu.end(), p.cu_w[w]) - cu.begin() - 1;
      EXPECT_GE(token, cu[static_cast<size_t>(image)]);
      EXPECT_LT(token, cu[static_cast<size_t>(image) + 1]);
    }
}

struct Encoder {
  VisionEncoder encoder;
  std::map<std::string, Tensor> params;
  explicit Encoder(const VisionConfig& config) : encoder(config) {
    uint64_t stream = 0;
    encoder.add_parameters(params, 5, stream);
    for (auto& [name, p] : params) p = p.to(DType::f64);
  }
  Tensor operator()(const ImagePackTensors& pack, const Tensor& patches) const {
    return encoder.forward(params, patches, pack.cu_v, pack.positions);
  }
};

VisionConfig tiny(int64_t window, std::vector<int64_t> full_layers = {}) {
  VisionConfig c;
  c.patch_size = 2;
  c.d_model = 16;
  c.n_head = 2;
  c.mlp_dim = 24;
  c.n_layer = 2;
  c.init_std = 0.3;  // attention weights far from uniform
  c.window = window;
  c.full_attention_layers = std::move(full_layers);
  return c;
}

const std::vector<std::pair<int64_t, int64_t>> kGrids = {{4, 6}, {2, 2}, {6, 8}};

TEST(WindowAttention, AWindowCoveringTheGridIsFullAttention) {
  const ImagePackTensors pack = pack_of(kGrids, 3);
  const Tensor patches = pack.patches.to(DType::f64);
  NoGradGuard no_grad;
  const Tensor full = Encoder(tiny(0))(pack, patches);
  const Tensor covering = Encoder(tiny(8))(pack, patches);  // every grid ≤ 8 patches a side
  EXPECT_TRUE(testing::all_close(covering, full, 0, 1e-12));
}

// Every layer full: the permutation into windows and back must be exact, so
// outputs and gradients are the unwindowed model's (in merge order).
TEST(WindowAttention, OutputsAndGradientsComeBackInMergeOrder) {
  const ImagePackTensors pack = pack_of(kGrids, 4);
  Tensor weights = Tensor::empty({pack.patches.size(0), 16}, DType::f64);
  for (int64_t i = 0; i < weights.numel(); ++i) weights.data<double>()[i] = philox_normal({9, 9}, static_cast<uint64_t>(i));
  std::vector<Tensor> outputs, gradients;
  for (const VisionConfig& c : {tiny(0), tiny(2, {0, 1})}) {
    Tensor patches = pack.patches.to(DType::f64);
    patches.set_requires_grad(true);
    const Tensor out = Encoder(c)(pack, patches);
    backward(ops::sum(ops::mul(out, weights)));
    outputs.push_back(out.detach());
    gradients.push_back(patches.grad());
  }
  EXPECT_TRUE(testing::all_close(outputs[1], outputs[0], 1e-12, 1e-12));
  EXPECT_TRUE(testing::all_close(gradients[1], gradients[0], 1e-12, 1e-12));
}

TEST(WindowAttention, AWindowedLayerSeesOnlyItsWindow) {
  // One 4×4-patch image, windows of one unit (2×2 patches), one windowed layer:
  // changing unit 0's patches changes only unit 0's outputs (tokens 0..3).
  VisionConfig c = tiny(2);
  c.n_layer = 1;
  const ImagePackTensors pack = pack_of({{4, 4}}, 5);
  const Tensor patches = pack.patches.to(DType::f64);
  Tensor changed = patches.clone();
  changed.narrow(0, 0, 4).copy_(Tensor::full({4, 4}, 0.7, DType::f64));
  NoGradGuard no_grad;
  const Encoder encode(c);
  const Tensor before = encode(pack, patches), after = encode(pack, changed);
  EXPECT_TRUE(testing::all_close(after.narrow(0, 4, 12), before.narrow(0, 4, 12), 0, 1e-12));
  EXPECT_FALSE(testing::all_close(after.narrow(0, 0, 4), before.narrow(0, 0, 4), 0, 1e-3));
  // The same change under full attention reaches every token.
  const Encoder full(tiny(0));
  EXPECT_FALSE(testing::all_close(full(pack, changed).narrow(0, 4, 12), full(pack, patches).narrow(0, 4, 12), 0, 1e-6));
}

TEST(WindowAttention, ConfigurationAndInputErrors) {
  VisionConfig odd = tiny(3);
  EXPECT_EQ(error_of([&] { odd.validate(); }), "vision.window = 3 must be 0 (off) or a multiple of vision.merge_size 2");
  VisionConfig beyond = tiny(4, {7});
  beyond.n_layer = 4;
  EXPECT_EQ(error_of([&] { beyond.validate(); }), "vision.full_attention_layers: 7 ≥ vision.n_layer 4");
  // Dropped tokens leave no whole grid to tile.
  const ImagePackTensors pack = pack_of({{4, 4}}, 6);
  const std::vector<std::vector<int32_t>> kept = {{0, 1, 2, 5, 9, 15}};
  const ImagePackTensors dropped = keep_tokens(pack, kept);
  EXPECT_NE(error_of([&] { window_partition(segments_of(dropped), 2, 4); })
                .find("vision.window: image 0 is not a whole 4×4 grid of 2×2 merge units"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::models
