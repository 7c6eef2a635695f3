#pragma once
// The projector between a vision encoder and the language model (SPEC-VLM §3):
//  - merger: Qwen2-VL's PatchMerger (arXiv 2409.12191): LayerNorm per patch,
//    each m×m block of consecutive (merge-ordered) rows concatenated, then
//    Linear(m²D_v, m²D_v) → GELU → Linear(m²D_v, D): m² fewer tokens;
//  - pixel_shuffle: InternVL's pixel shuffle + mlp1 (arXiv 2404.16821): the
//    same concatenation, LayerNorm after it, Linear(m²D_v, D) → GELU →
//    Linear(D, D);
//  - mlp2x_gelu / linear: LLaVA's projector (arXiv 2304.08485, 2310.03744),
//    one token per patch.
// Parameters are named as Qwen2-VL's merger ("visual.merger.ln_q.weight",
// "visual.merger.mlp.0.weight", "visual.merger.mlp.2.weight") for every kind.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

enum class ProjectorKind { merger, pixel_shuffle, mlp2x_gelu, linear };

ProjectorKind parse_projector(std::string_view name);  // error names model.projector
std::string projector_name(ProjectorKind kind);
bool is_projector_parameter(const std::string& name);  // "visual.merger.*", whatever the kind

struct ProjectorShape {
  ProjectorKind kind = ProjectorKind::merger;
  int64_t vision_width = 64;  // D_v
  int64_t model_width = 128;  // D
  int64_t merge = 2;          // m (merger and pixel shuffle)
  double norm_eps = 1e-6;
  // Patches that become one language-model token.
  int64_t patches_per_token() const { return reduces() ? merge * merge : 1; }
  bool reduces() const { return kind == ProjectorKind::merger || kind == ProjectorKind::pixel_shuffle; }
};

// Adds the projector's parameters (weights N(0, std²), zero biases, unit norm gains).
void add_projector_parameters(std::map<std::string, Tensor>& params, const ProjectorShape& shape, double std,
                              uint64_t seed, uint64_t& stream);

// Vision features [N_v, D_v] in merge order → [N_v / patches_per_token, D].
Tensor project_vision_features(const std::map<std::string, Tensor>& params, const ProjectorShape& shape,
                               const Tensor& features);

}  // namespace kiln::models
