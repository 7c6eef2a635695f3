#include "kiln/models/vlm/projector.hpp"

#include "kiln/autograd/ops/activation.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/base/error.hpp"
#include "kiln/base/printable.hpp"
#include "kiln/models/parameters.hpp"

namespace kiln::models {

namespace {

const std::string kPrefix = "visual.merger.";

}  // namespace

ProjectorKind parse_projector(std::string_view name) {
  if (name == "merger") return ProjectorKind::merger;
  if (name == "pixel_shuffle") return ProjectorKind::pixel_shuffle;
  if (name == "mlp2x_gelu") return ProjectorKind::mlp2x_gelu;
  if (name == "linear") return ProjectorKind::linear;
  fail("model.projector must be merger, pixel_shuffle, mlp2x_gelu or linear, got '{}'", printable(name));
}

std::string projector_name(ProjectorKind kind) {
  switch (kind) {
    case ProjectorKind::merger: return "merger";
    case ProjectorKind::pixel_shuffle: return "pixel_shuffle";
    case ProjectorKind::mlp2x_gelu: return "mlp2x_gelu";
    case ProjectorKind::linear: return "linear";
  }
  return "merger";
}

bool is_projector_parameter(const std::string& name) { return name.rfind(kPrefix, 0) == 0; }

void add_projector_parameters(std::map<std::string, Tensor>& params, const ProjectorShape& s, double std,
                              uint64_t seed, uint64_t& stream) {
  const auto add = [&](const std::string& name, const Shape& shape, double init) {
    Tensor t = init_parameter(shape, init, seed, stream++);
    t.set_requires_grad(true);
    params[kPrefix + name] = t;
  };
  const int64_t grouped = s.merge * s.merge * s.vision_width, d = s.model_width;
  switch (s.kind) {
    case ProjectorKind::merger:
      add("ln_q.weight", {s.vision_width}, 0);
      add("ln_q.bias", {s.vision_width}, -1);
      add("mlp.0.weight", {grouped, grouped}, std);
      add("mlp.0.bias", {grouped}, -1);
      add("mlp.2.weight", {d, grouped}, std);
      add("mlp.2.bias", {d}, -1);
      break;
    case ProjectorKind::pixel_shuffle:
      add("ln_q.weight", {grouped}, 0);
      add("ln_q.bias", {grouped}, -1);
      add("mlp.0.weight", {d, grouped}, std);
      add("mlp.0.bias", {d}, -1);
      add("mlp.2.weight", {d, d}, std);
      add("mlp.2.bias", {d}, -1);
      break;
    case ProjectorKind::mlp2x_gelu:
      add("mlp.0.weight", {d, s.vision_width}, std);
      add("mlp.0.bias", {d}, -1);
      add("mlp.2.weight", {d, d}, std);
      add("mlp.2.bias", {d}, -1);
      break;
    case ProjectorKind::linear:
      add("mlp.0.weight", {d, s.vision_width}, std);
      add("mlp.0.bias", {d}, -1);
      break;
  }
}

Tensor project_vision_features(const std::map<std::string, Tensor>& params, const ProjectorShape& s,
                               const Tensor& features) {
  const auto w = [&](const std::string& name) -> const Tensor& { return find_parameter(params, kPrefix + name); };
  const int64_t group = s.patches_per_token();
  KILN_CHECK(features.dim() == 2 && features.size(1) == s.vision_width && features.size(0) % group == 0,
             "projector: expected vision features [N, {}] with N a multiple of {}, got {}", s.vision_width, group,
             features.describe());
  const int64_t tokens = features.size(0) / group;
  const auto mlp = [&](const Tensor& x) {
    const Tensor hidden = ops::gelu(ops::linear(x, w("mlp.0.weight"), w("mlp.0.bias")));
    return ops::linear(hidden, w("mlp.2.weight"), w("mlp.2.bias"));
  };
  switch (s.kind) {
    case ProjectorKind::merger: {
      const Tensor normed = ops::layer_norm(features, w("ln_q.weight"), w("ln_q.bias"), s.norm_eps);
      return mlp(ops::reshape(normed, {tokens, group * s.vision_width}));
    }
    case ProjectorKind::pixel_shuffle: {
      const Tensor grouped = ops::reshape(features, {tokens, group * s.vision_width});
      return mlp(ops::layer_norm(grouped, w("ln_q.weight"), w("ln_q.bias"), s.norm_eps));
    }
    case ProjectorKind::mlp2x_gelu:
      return mlp(features);
    case ProjectorKind::linear:
      return ops::linear(features, w("mlp.0.weight"), w("mlp.0.bias"));
  }
  return {};
}

}  // namespace kiln::models
