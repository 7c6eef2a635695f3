// The native-resolution vision encoder and the NaViT classifier against a
// PyTorch 1.13 port of Qwen2-VL's vision tower (tests/reference/navit.py,
// f64): three images of different sizes in one pack with per-image attention,
// 2D RoPE, outputs and every gradient, erf GELU and quick_gelu, then the
// classifier head's loss and gradients. Invariants (SPEC-VLM §9): the encoder
// is permutation-equivariant (row-major and merge-order inputs give the same
// outputs, permuted) for every position scheme; images in a pack are isolated
// (f64 ≤ 1e-12); packed equals one image at a time; rope2d depends only on
// relative positions.
#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <string>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/models/vision/image_pack.hpp"
#include "kiln/models/vision/navit.hpp"
#include "kiln/models/vision/vision_encoder.hpp"
#include "support/reference.hpp"

namespace kiln::models {
namespace {

const io::TensorMap& reference() {
  static const io::TensorMap ref = testing::load_reference("navit");
  return ref;
}

VisionConfig tiny_vision(int64_t layers = 2) {
  VisionConfig c;
  c.patch_size = 2;
  c.channels = 2;
  c.d_model = 16;
  c.n_head = 2;
  c.mlp_dim = 24;
  c.n_layer = layers;
  return c;
}

// f64 leaves for every reference tensor under `prefix`, keyed by the rest of its name.
std::map<std::string, Tensor> leaves_with_prefix(const std::string& prefix) {
  std::map<std::string, Tensor> out;
  for (const auto& [key, value] : reference())
    if (key.rfind(prefix, 0) == 0) out[key.substr(prefix.size())] = testing::input_leaf(reference(), key);
  return out;
}

const Tensor& cu_v() { return testing::at(reference(), "cu_v"); }
const Tensor& positions() { return testing::at(reference(), "positions"); }

constexpr double kRtol = 1e-10, kAtol = 1e-12;

void expect_encoder_matches(const std::string& prefix, const VisionConfig& config) {
  std::map<std::string, Tensor> params = leaves_with_prefix(prefix + ".param.");
  Tensor patches = testing::input_leaf(reference(), prefix + ".patches");
  const Tensor out = VisionEncoder(config).forward(params, patches, cu_v(), positions());
  EXPECT_TRUE(testing::all_close(out, testing::at(reference(), prefix + ".out"), kRtol, kAtol)) << prefix;
  backward(out, testing::at(reference(), prefix + ".dout"));
  EXPECT_TRUE(testing::all_close(patches.grad(), testing::at(reference(), prefix + ".grad.patches"), kRtol, kAtol));
  for (const auto& [name, p] : params)
    EXPECT_TRUE(testing::all_close(p.grad(), testing::at(reference(), prefix + ".grad." + name), kRtol, kAtol))
        << prefix << ": " << name;
}

TEST(VisionEncoder, Rope2dBlocksMatchQwen2VlInPyTorch) { expect_encoder_matches("encoder", tiny_vision(2)); }

TEST(VisionEncoder, QuickGeluMatchesPyTorch) {
  VisionConfig c = tiny_vision(1);
  c.hidden_act = VisionActivation::quick_gelu;
  expect_encoder_matches("quick", c);
}

TEST(Navit, ClassifierLossAndGradientsMatchPyTorch) {
  NavitConfig config{tiny_vision(2), 3};
  NavitModel model(config, 0);
  for (auto& [name, p] : leaves_with_prefix("encoder.param.")) model.parameters()[name] = p;
  for (auto& [name, p] : leaves_with_prefix("classifier.param.")) model.parameters()[name] = p;
  const ImagePackTensors pack{testing::at(reference(), "encoder.patches"), cu_v(), positions()};
  const Tensor labels = testing::at(reference(), "classifier.labels");
  EXPECT_TRUE(testing::all_close(model.logits(pack), testing::at(reference(), "classifier.logits"), kRtol, kAtol));
  const Tensor loss = model.loss_sum(pack, labels);
  EXPECT_NEAR(loss.item(), testing::at(reference(), "classifier.loss").item(), 1e-12);
  backward(loss);
  for (const auto& [name, p] : model.parameters())
    EXPECT_TRUE(testing::all_close(p.grad(), testing::at(reference(), "classifier.grad." + name), kRtol, kAtol))
        << name;
}

// A random f64 encoder of the reference's shape.
struct F64Encoder {
  VisionEncoder encoder;
  std::map<std::string, Tensor> params;

  explicit F64Encoder(VisionConfig config) : encoder(std::move(config)) {
    uint64_t stream = 0;
    encoder.add_parameters(params, 7, stream);
    for (auto& [name, p] : params) p = p.to(DType::f64);
  }
  Tensor operator()(const Tensor& patches, const Tensor& cu, const Tensor& pos) const {
    NoGradGuard no_grad;
    return encoder.forward(params, patches, cu, pos);
  }
};

VisionConfig with_positions(VisionPositions positions) {
  VisionConfig c = tiny_vision(2);
  c.positions = positions;
  c.max_rows = c.max_cols = 8;
  c.init_std = 0.3;  // large enough that positions and attention matter
  return c;
}

constexpr VisionPositions kAllSchemes[] = {VisionPositions::rope2d, VisionPositions::factorized,
                                           VisionPositions::factorized_fractional, VisionPositions::learned};

Tensor reference_patches() { return testing::at(reference(), "encoder.patches"); }

// Rows of `x` [N, d] in the order `order` (row k of the result is x[order[k]]).
Tensor take_rows(const Tensor& x, const std::vector<int64_t>& order) {
  Tensor out = Tensor::empty({static_cast<int64_t>(order.size()), x.size(1)}, x.dtype());
  for (size_t k = 0; k < order.size(); ++k) out.select(0, static_cast<int64_t>(k)).copy_(x.select(0, order[k]));
  return out;
}

TEST(VisionEncoder, RowMajorAndMergeOrderGiveTheSameOutputsPermuted) {
  // The packed tokens of each image sorted by (row, col): row-major order.
  const auto rows = positions().select(0, 0).to_vector<int64_t>(), cols = positions().select(0, 1).to_vector<int64_t>();
  const auto cu = cu_v().to_vector<int64_t>();
  std::vector<int64_t> order(rows.size());
  std::iota(order.begin(), order.end(), 0);
  for (size_t i = 0; i + 1 < cu.size(); ++i)
    std::sort(order.begin() + cu[i], order.begin() + cu[i + 1],
              [&](int64_t a, int64_t b) { return std::pair{rows[a], cols[a]} < std::pair{rows[b], cols[b]}; });
  ASSERT_NE(order[2], 2) << "merge order and row-major order should differ";
  Tensor row_major_positions = Tensor::empty({2, positions().size(1)}, DType::i64);
  for (size_t k = 0; k < order.size(); ++k) {
    row_major_positions.data<int64_t>()[k] = rows[order[k]];
    row_major_positions.data<int64_t>()[order.size() + k] = cols[order[k]];
  }
  const Tensor patches = reference_patches();
  for (VisionPositions scheme : kAllSchemes) {
    const F64Encoder encode(with_positions(scheme));
    const Tensor merge_order = encode(patches, cu_v(), positions());
    const Tensor row_major = encode(take_rows(patches, order), cu_v(), row_major_positions);
    EXPECT_TRUE(testing::all_close(row_major, take_rows(merge_order, order), 0, 1e-12))
        << vision_positions_name(scheme);
  }
}

TEST(VisionEncoder, ImagesInAPackDoNotSeeEachOther) {
  Tensor changed = reference_patches().clone();
  changed.narrow(0, 8, 24).copy_(Tensor::full({24, 8}, 0.5, DType::f64));  // image 1: tokens 8..31
  for (VisionPositions scheme : kAllSchemes) {
    const F64Encoder encode(with_positions(scheme));
    const Tensor before = encode(reference_patches(), cu_v(), positions());
    const Tensor after = encode(changed, cu_v(), positions());
    EXPECT_TRUE(testing::all_close(after.narrow(0, 0, 8), before.narrow(0, 0, 8), 0, 1e-12));
    EXPECT_TRUE(testing::all_close(after.narrow(0, 32, 12), before.narrow(0, 32, 12), 0, 1e-12));
    EXPECT_FALSE(testing::all_close(after.narrow(0, 8, 24), before.narrow(0, 8, 24), 0, 1e-3)) << "image 1 changed";
  }
}

TEST(VisionEncoder, PackedEqualsOneImageAtATime) {
  const auto cu = cu_v().to_vector<int64_t>();
  for (VisionPositions scheme : kAllSchemes) {
    const F64Encoder encode(with_positions(scheme));
    const Tensor packed = encode(reference_patches(), cu_v(), positions());
    for (size_t i = 0; i + 1 < cu.size(); ++i) {
      const int64_t n = cu[i + 1] - cu[i];
      const Tensor alone = encode(reference_patches().narrow(0, cu[i], n), Tensor::from<int32_t>({0, static_cast<int32_t>(n)}, {2}),
                                  positions().narrow(1, cu[i], n).contiguous());
      EXPECT_TRUE(testing::all_close(alone, packed.narrow(0, cu[i], n), 0, 1e-12))
          << vision_positions_name(scheme) << ", image " << i;
    }
  }
}

TEST(VisionEncoder, Rope2dSeesOnlyRelativePositions) {
  const F64Encoder encode(with_positions(VisionPositions::rope2d));
  Tensor shifted = positions().clone();
  for (int64_t k = 0; k < shifted.size(1); ++k) {
    shifted.data<int64_t>()[k] += 37;
    shifted.data<int64_t>()[shifted.size(1) + k] += 5;
  }
  EXPECT_TRUE(testing::all_close(encode(reference_patches(), cu_v(), shifted),
                                 encode(reference_patches(), cu_v(), positions()), 1e-10, 1e-12));
}

TEST(VisionEncoder, PackOfImagesMatchesPatchOrderAndPositions) {
  // Two images of 4×8 and 8×4 px, patch 2, merge 2: grids 2×4 and 4×2.
  std::vector<Tensor> images;
  for (auto [h, w] : {std::pair{4, 8}, {8, 4}}) {
    Tensor image = Tensor::empty({1, h, w});
    for (int64_t k = 0; k < h * w; ++k) image.data<float>()[k] = static_cast<float>(k);
    images.push_back(image);
  }
  const ImagePackTensors pack = pack_image_tensors(images, 2, 2);
  EXPECT_EQ(pack.cu_v.to_vector<int64_t>(), (std::vector<int64_t>{0, 8, 16}));
  // Image 0's merge order visits (0,0) (0,1) (1,0) (1,1) (0,2) (0,3) (1,2) (1,3).
  EXPECT_EQ(pack.positions.select(0, 0).to_vector<int64_t>(),
            (std::vector<int64_t>{0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(pack.positions.select(0, 1).to_vector<int64_t>(),
            (std::vector<int64_t>{0, 1, 0, 1, 2, 3, 2, 3, 0, 1, 0, 1, 0, 1, 0, 1}));
  // Token 4 of image 0 is the patch at grid (0, 2): pixels (0..1, 4..5) of the 8-wide image.
  EXPECT_EQ(pack.patches.select(0, 4).to_vector<float>(), (std::vector<float>{4, 5, 12, 13}));
  try {
    pack_image_tensors(std::vector<Tensor>{Tensor::zeros({1, 8, 8}), Tensor::zeros({1, 12, 8})}, 2, 4);
    FAIL() << "a 6×4-patch grid is not a multiple of merge 4";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "image 1: 6×4 patches is not a multiple of merge_size 4");
  }
  EXPECT_THROW(pack_image_tensors(std::vector<Tensor>{Tensor::zeros({1, 1, 40})}, 2, 1), Error);
}

TEST(VisionEncoder, KeptTokensKeepTheirPatchesAndPositions) {
  std::vector<Tensor> images;
  for (const auto& size : {std::pair{4, 8}, {8, 4}}) {
    Tensor image = Tensor::empty({1, size.first, size.second});
    for (int64_t k = 0; k < size.first * size.second; ++k) image.data<float>()[k] = static_cast<float>(k);
    images.push_back(image);
  }
  const ImagePackTensors pack = pack_image_tensors(images, 2, 2);
  const std::vector<std::vector<int32_t>> kept{{0, 4, 7}, {5}};
  const ImagePackTensors dropped = keep_tokens(pack, kept);
  EXPECT_EQ(dropped.cu_v.to_vector<int64_t>(), (std::vector<int64_t>{0, 3, 4}));
  const std::vector<int64_t> sources{0, 4, 7, 8 + 5};
  for (size_t row = 0; row < sources.size(); ++row) {
    const int64_t r = static_cast<int64_t>(row);
    EXPECT_EQ(dropped.patches.select(0, r).to_vector<float>(), pack.patches.select(0, sources[row]).to_vector<float>());
    EXPECT_EQ(dropped.positions.data<int64_t>()[r], pack.positions.data<int64_t>()[sources[row]]);
    EXPECT_EQ(dropped.positions.data<int64_t>()[4 + r], pack.positions.data<int64_t>()[16 + sources[row]]);
  }
  // Image 1's token 5 sits at grid (2, 1) of its 4×2 grid in merge order.
  EXPECT_EQ(dropped.positions.select(1, 3).to_vector<int64_t>(), (std::vector<int64_t>{2, 1}));

  std::vector<std::vector<int32_t>> every(2);
  for (int32_t k = 0; k < 8; ++k) every[0].push_back(k), every[1].push_back(k);
  const ImagePackTensors same = keep_tokens(pack, every);
  EXPECT_TRUE(testing::all_close(same.patches, pack.patches, 0, 0));
  EXPECT_EQ(same.positions.to_vector<int64_t>(), pack.positions.to_vector<int64_t>());
  EXPECT_EQ(same.cu_v.to_vector<int64_t>(), pack.cu_v.to_vector<int64_t>());

  EXPECT_THROW(keep_tokens(pack, std::vector<std::vector<int32_t>>{{0}, {}}), Error);
  EXPECT_THROW(keep_tokens(pack, std::vector<std::vector<int32_t>>{{3, 1}, {0}}), Error);
  EXPECT_THROW(keep_tokens(pack, std::vector<std::vector<int32_t>>{{0}, {8}}), Error);
  EXPECT_THROW(keep_tokens(pack, std::vector<std::vector<int32_t>>{{0}}), Error);
}

TEST(VisionEncoder, RefusesBadShapesAndHeadWidths) {
  VisionConfig odd = tiny_vision(1);
  odd.n_head = 8;  // head dimension 2
  EXPECT_THROW(VisionEncoder{odd}, Error);
  odd.positions = VisionPositions::factorized;
  EXPECT_NO_THROW(VisionEncoder{odd});
  const F64Encoder encode(tiny_vision(1));
  EXPECT_THROW(encode(Tensor::zeros({44, 9}, DType::f64), cu_v(), positions()), Error);
  EXPECT_THROW(encode(reference_patches(), Tensor::from<int32_t>({0, 40}, {2}), positions()), Error);
}

}  // namespace
}  // namespace kiln::models
