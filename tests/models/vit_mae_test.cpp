// ViT and MAE against a hand-written PyTorch reference (tests/reference/
// vit_mae.py): loss and every gradient; a hand-worked example of MAE's
// random_masking and the 2D sin-cos table of facebookresearch/mae's
// util/pos_embed.py; patchify round trip; ViT parameter counts.
#include <gtest/gtest.h>

#include "kiln/autograd/engine.hpp"
#include "kiln/models/mae/mae.hpp"
#include "kiln/models/vit/vit.hpp"
#include "support/reference.hpp"

namespace kiln::models {
namespace {

VitConfig tiny_vit() {
  VitConfig c;
  c.image_size = 8;
  c.channels = 1;
  c.patch_size = 4;
  c.d_model = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.mlp_dim = 32;
  c.n_classes = 5;
  return c;
}

std::map<std::string, Tensor> with_prefix(const io::TensorMap& ref, const std::string& prefix) {
  std::map<std::string, Tensor> out;
  for (const auto& [key, value] : ref)
    if (key.rfind(prefix, 0) == 0) out[key.substr(prefix.size())] = value;
  return out;
}

TEST(Vit, LossLogitsAndGradientsMatchPyTorch) {
  const io::TensorMap ref = testing::load_reference("vit_mae");
  VitModel model(tiny_vit(), 0);
  model.load_parameters(with_prefix(ref, "vit.param."));
  const Tensor images = testing::at(ref, "vit.images"), labels = testing::at(ref, "vit.labels");
  EXPECT_TRUE(testing::all_close(model.logits(images), testing::at(ref, "vit.logits"), 1e-5, 1e-5));
  const Tensor loss = model.loss(images, labels);
  EXPECT_NEAR(loss.item(), testing::at(ref, "vit.loss").item(), 1e-5);
  backward(loss);
  for (const auto& [name, p] : model.parameters())
    EXPECT_TRUE(testing::all_close(p.grad(), testing::at(ref, "vit.grad." + name), 1e-4, 2e-5)) << name;
}

TEST(Mae, LossAndGradientsMatchPyTorch) {
  const io::TensorMap ref = testing::load_reference("vit_mae");
  MaeConfig c;
  c.encoder = tiny_vit();
  c.decoder_dim = 8;
  c.decoder_layers = 1;
  c.decoder_heads = 2;
  c.decoder_mlp = 16;
  c.mask_ratio = 0.5;
  MaeModel model(c, 0);
  model.load_parameters(with_prefix(ref, "mae.param."));
  const Tensor images = testing::at(ref, "mae.images");
  const PatchMask mask = mask_from_noise(testing::at(ref, "mae.noise").to_vector<float>(), 3, 4, 0.5);
  EXPECT_EQ(mask.mask.to_vector<float>(), testing::at(ref, "mae.mask").to_vector<float>());
  const MaeOutput out = model.forward(images, mask);
  EXPECT_TRUE(testing::all_close(out.target, testing::at(ref, "mae.patchified"), 0, 0));
  EXPECT_NEAR(out.loss.item(), testing::at(ref, "mae.loss").item(), 1e-5);
  backward(out.loss);
  for (const auto& [name, p] : model.parameters())
    EXPECT_TRUE(testing::all_close(p.grad(), testing::at(ref, "mae.grad." + name), 1e-4, 2e-5)) << name;
  MaeConfig normalised = c;
  normalised.norm_pix_loss = true;
  MaeModel norm_model(normalised, 0);
  norm_model.load_parameters(with_prefix(ref, "mae.param."));
  EXPECT_NEAR(norm_model.forward(images, mask).loss.item(), testing::at(ref, "mae.norm_loss").item(), 1e-5);
  EXPECT_TRUE(testing::all_close(sincos_position_table(16, 2), testing::at(ref, "mae.sincos"), 1e-6, 1e-6));
}

TEST(Mae, MaskingWorkedExample) {
  const PatchMask m = mask_from_noise({0.5f, 0.2f, 0.9f, 0.1f, 0.7f, 0.3f, 0.8f, 0.6f}, 1, 8, 0.75);
  EXPECT_EQ(m.keep, 2);
  EXPECT_EQ(m.ids_keep, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(m.ids_restore, (std::vector<int64_t>{3, 1, 7, 0, 5, 2, 6, 4}));
  EXPECT_EQ(m.mask.to_vector<float>(), (std::vector<float>{1, 0, 1, 0, 1, 1, 1, 1}));
  EXPECT_EQ(random_patch_mask(4, 49, 0.75, 1, 0).keep, 12);
  EXPECT_EQ(random_patch_mask(4, 196, 0.75, 1, 0).keep, 49);
  const PatchMask r = random_patch_mask(5, 64, 0.75, 3, 7);
  const std::vector<float> mv = r.mask.to_vector<float>();
  for (int64_t b = 0; b < 5; ++b) {
    float removed = 0;
    for (int64_t i = 0; i < 64; ++i) removed += mv[b * 64 + i];
    EXPECT_EQ(removed, 48);
  }
}

TEST(Mae, SinCosTableWorkedExample) {
  const std::vector<float> t = sincos_position_table(8, 2).to_vector<float>();
  const std::vector<float> expected{0, 0, 0, 0, 0, 0, 0, 0,  // class token
                                    0, 0, 1, 1, 0, 0, 1, 1,  // (r0, c0)
                                    0.841471f, 0.01f, 0.540302f, 0.99995f, 0, 0, 1, 1,
                                    0, 0, 1, 1, 0.841471f, 0.01f, 0.540302f, 0.99995f,
                                    0.841471f, 0.01f, 0.540302f, 0.99995f, 0.841471f, 0.01f, 0.540302f, 0.99995f};
  ASSERT_EQ(t.size(), expected.size());
  for (size_t i = 0; i < t.size(); ++i) EXPECT_NEAR(t[i], expected[i], 1e-5) << i;
}

TEST(Vit, PatchifyRoundTripAndParameterCounts) {
  Tensor ramp = Tensor::empty({1, 3, 4, 4});
  for (int64_t i = 0; i < ramp.numel(); ++i) ramp.data<float>()[i] = static_cast<float>(i);
  const Tensor p = patchify_hwc(ramp, 2);
  const std::vector<float> pv = p.to_vector<float>(), rv = ramp.to_vector<float>();
  const std::vector<float> cv = patches_chw(ramp, 2).to_vector<float>();
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t j = 0; j < 2; ++j)
          for (int64_t ch = 0; ch < 3; ++ch) {
            const float pixel = rv[(ch * 4 + r * 2 + i) * 4 + c * 2 + j];
            // MAE target order (i, j, c); patch-embedding order (c, i, j)
            EXPECT_EQ(pv[(r * 2 + c) * 12 + (i * 2 + j) * 3 + ch], pixel);
            EXPECT_EQ(cv[(r * 2 + c) * 12 + (ch * 2 + i) * 2 + j], pixel);
          }
  EXPECT_EQ(unpatchify_hwc(p, 2, 3).to_vector<float>(), rv);
  VitConfig b16;
  b16.image_size = 224;
  b16.channels = 3;
  b16.patch_size = 16;
  b16.d_model = 768;
  b16.n_layer = 12;
  b16.n_head = 12;
  b16.mlp_dim = 3072;
  b16.n_classes = 1000;
  EXPECT_EQ(b16.parameter_count(), 86'567'656);
  VitConfig tiny = b16;
  tiny.d_model = 192;
  tiny.n_head = 3;
  tiny.mlp_dim = 768;
  EXPECT_EQ(tiny.parameter_count(), 5'717'416);
  const VitModel small(tiny_vit(), 1);
  int64_t counted = 0;
  for (const auto& entry : small.parameters()) counted += entry.second.numel();
  EXPECT_EQ(small.config().parameter_count(), counted);
}

}  // namespace
}  // namespace kiln::models
