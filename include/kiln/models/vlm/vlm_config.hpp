#pragma once
// The vision-language model's shape (SPEC-VLM §5.1, §8): the native-resolution
// vision encoder, a projector, and a LLaMA decoder with M-RoPE over kiln's
// byte vocabulary plus four special tokens (data::VlmTokens).
#include <cstdint>

#include "kiln/models/gpt/config.hpp"
#include "kiln/models/vision/vision_config.hpp"
#include "kiln/models/vlm/projector.hpp"

namespace kiln::models {

struct VlmConfig {
  VisionConfig vision;
  GptConfig decoder;  // llama, vocab_size 260, M-RoPE
  ProjectorKind projector = ProjectorKind::merger;

  // The decoder kiln's tiny VLMs use (§7.2): D 128, 4 layers, 4 heads,
  // SwiGLU 352, M-RoPE [4, 6, 6], untied head, Qwen's N(0, 0.02²) init.
  static GptConfig default_decoder();

  ProjectorShape projector_shape() const;
  int64_t patches_per_token() const { return projector_shape().patches_per_token(); }
  void validate() const;  // kiln::Error naming the first bad key
  int64_t parameter_count() const;
};

}  // namespace kiln::models
