#pragma once
// The native-resolution vision encoder of Qwen2-VL (SPEC-VLM §5.1), NaViT's
// "Patch n' Pack" input: the patches of many images of different sizes in one
// sequence, each image attending only to itself.
//
//   patches [N, C·P²] (each image's patches in merge order, flattened (c, i, j))
//     → linear patch embedding without bias (visual.patch_embed.proj.weight [D, C, P, P])
//     → + position vectors (factorized, factorized_fractional, learned; none for rope2d)
//     → n_layer pre-LN blocks: x += proj(attn(qkv(LN1 x))), x += fc2(act(fc1(LN2 x)))
//        (LayerNorm eps 1e-6, fused qkv with bias, non-causal attention inside each
//         image through cu_v, 2D RoPE on q and k for rope2d)
//   With vision.window (Qwen2.5-VL, window_attention.hpp), the tokens enter the
//   blocks in window order and every layer but full_attention_layers attends
//   inside its window; the output is back in merge order.
//   → [N, D]: no class token and no final norm (a merger's or head's norm follows).
//
// The encoder holds only its configuration; parameters live in the caller's
// name → Tensor map under Qwen2-VL's checkpoint names ("visual.blocks.3.attn.qkv.weight"),
// so a classifier and a vision-language model can keep one map for everything.
#include <cstdint>
#include <map>
#include <string>

#include "kiln/models/vision/vision_config.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

class VisionEncoder {
 public:
  explicit VisionEncoder(VisionConfig config);  // validated

  const VisionConfig& config() const { return config_; }

  // Adds the encoder's parameters, "visual.*", initialised as Qwen2-VL's
  // _init_weights does (weights N(0, init_std²), zero biases, unit norm
  // weights), each from Philox (seed, stream++).
  void add_parameters(std::map<std::string, Tensor>& parameters, uint64_t seed, uint64_t& stream) const;

  // patches f32/f64 [N, C·P²]; cu_v i32/i64 [images + 1] (one segment per
  // image); positions integers [2, N]: every token's grid row and column.
  // An image's grid is taken as 1 + its largest row and column. → [N, D].
  //
  // key_padding_mask (u8 [images, n_max], 1 = a real patch), when given,
  // runs the padded layout instead: every cu_v segment is n_max long, image i
  // holds rows [i·n_max, (i+1)·n_max) with its padding rows last (positions
  // 0), and attention masks the padding keys rather than cutting segments —
  // the layout a padded batch of images has, kept to measure what rmpad saves.
  Tensor forward(const std::map<std::string, Tensor>& parameters, const Tensor& patches, const Tensor& cu_v,
                 const Tensor& positions, const Tensor& key_padding_mask = {}) const;

 private:
  VisionConfig config_;
};

}  // namespace kiln::models
