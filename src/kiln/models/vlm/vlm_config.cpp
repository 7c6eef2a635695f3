#include "kiln/models/vlm/vlm_config.hpp"

#include "kiln/base/error.hpp"
#include "kiln/data/vlm_batch.hpp"

namespace kiln::models {

GptConfig VlmConfig::default_decoder() {
  GptConfig c;
  c.arch = DecoderArch::llama;
  c.vocab_size = data::VlmTokens::vocabulary;
  c.d_model = 128;
  c.n_layer = 4;
  c.n_head = 4;
  c.n_kv_head = 4;
  c.ffn_hidden = 352;
  c.max_seq_len = 1024;
  c.rope_interleaved = false;  // M-RoPE pairs (j, j + d/2), as Qwen's rotate_half
  c.mrope_section = {4, 6, 6};
  c.init_std = 0.02;
  return c;
}

ProjectorShape VlmConfig::projector_shape() const {
  return {projector, vision.d_model, decoder.d_model, vision.merge_size, 1e-6};
}

void VlmConfig::validate() const {
  vision.validate();
  decoder.validate();
  KILN_CHECK(decoder.arch == DecoderArch::llama && decoder.attention == AttentionKind::mha &&
                 !decoder.moe.enabled() && decoder.mtp_depth == 0,
             "a vision-language model needs a llama decoder with multi-head attention, no MoE and no MTP");
  KILN_CHECK(decoder.vocab_size == data::VlmTokens::vocabulary,
             "model.vocab_size must be {} (bytes and four special tokens), got {}", data::VlmTokens::vocabulary,
             decoder.vocab_size);
  KILN_CHECK(decoder.mrope(), "a vision-language model needs model.mrope_section (e.g. [4, 6, 6])");
  KILN_CHECK(!decoder.tie_embeddings, "model.tie_embeddings is not supported by the vision-language model");
}

int64_t VlmConfig::parameter_count() const {
  const ProjectorShape p = projector_shape();
  const int64_t grouped = p.merge * p.merge * p.vision_width, d = p.model_width, dv = p.vision_width;
  int64_t projector_params = 0;
  switch (projector) {
    case ProjectorKind::merger: projector_params = 2 * dv + grouped * grouped + grouped + d * grouped + d; break;
    case ProjectorKind::pixel_shuffle: projector_params = 2 * grouped + d * grouped + d + d * d + d; break;
    case ProjectorKind::mlp2x_gelu: projector_params = d * dv + d + d * d + d; break;
    case ProjectorKind::linear: projector_params = d * dv + d; break;
  }
  return vision.parameter_count() + projector_params + decoder.parameter_count();
}

}  // namespace kiln::models
