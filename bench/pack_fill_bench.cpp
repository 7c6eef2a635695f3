// How full packs are under the two packing policies (SPEC-VLM §1.3, §6.1),
// on the token counts of the Fashion canvas tasks as kiln trains them:
//  - NaViT: the stream of training canvases (seed 0) packed into sequences
//    of at most L ViT tokens, as a static-shape trainer would pad them;
//  - the VLM: the stream of fashion-canvas samples (1–3 garments, seed 0)
//    packed under both budgets of configs/fmnist-vlm.toml, and the pack one
//    `kiln vlm train` step takes from 512 candidates (data::step_pack).
// Fill = real tokens / (packs × budget): the share of a padded pack that is
// not padding. Counts only, nothing is drawn, so the figures are exact and
// the same on every machine.
//
//   pack_fill_bench [images]
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "kiln/base/philox.hpp"
#include "kiln/data/fashion_canvas.hpp"
#include "kiln/data/sample_packing.hpp"
#include "kiln/data/vision_tokens.hpp"
#include "kiln/train/vlm_tasks.hpp"

using namespace kiln;

namespace {

constexpr const char* kPolicies[] = {"next_fit", "ffd:8", "ffd:64", "ffd:1024"};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void navit_table(int64_t images) {
  const data::FashionCanvases canvases(data::DataSplit::train);
  const data::ResizeLimits& limits = data::kFashionCanvasLimits;
  std::vector<int64_t> tokens;
  int64_t total = 0;
  for (int64_t i = 0; i < images; ++i) {
    const data::ImageSize size = canvases.layout(0, i).resized;
    tokens.push_back(size.height * size.width / (limits.patch * limits.patch));
    total += tokens.back();
  }
  std::printf("NaViT: %lld training canvases, %lld ViT tokens (%.1f per image)\n\n",
              static_cast<long long>(images), static_cast<long long>(total),
              static_cast<double>(total) / static_cast<double>(images));
  std::printf("| L (ViT tokens per pack) | policy | packs | fill | images per pack | packing time |\n|---|---|---|---|---|---|\n");
  for (const int64_t budget : {512, 1024, 4096}) {
    for (const char* name : kPolicies) {
      const auto start = std::chrono::steady_clock::now();
      const auto packs = data::pack_images(tokens, budget, data::parse_packing_policy(name));
      const double took = seconds_since(start);
      const auto n = static_cast<double>(packs.size());
      std::printf("| %lld | `%s` | %zu | %.2f%% | %.2f | %.1f ms |\n", static_cast<long long>(budget), name,
                  packs.size(), 100.0 * static_cast<double>(total) / (n * static_cast<double>(budget)),
                  static_cast<double>(images) / n, 1e3 * took);
    }
  }
}

struct Fill {
  double llm = 0, vision = 0, samples = 0;
};

Fill fill_of(const std::vector<data::SampleTokens>& samples, const std::vector<std::vector<int64_t>>& packs,
             const data::PackBudgets& budgets) {
  Fill f;
  for (const auto& pack : packs)
    for (const int64_t s : pack) {
      f.llm += static_cast<double>(samples[static_cast<size_t>(s)].llm_tokens);
      f.vision += static_cast<double>(samples[static_cast<size_t>(s)].vision_tokens());
      f.samples += 1;
    }
  const auto n = static_cast<double>(packs.size());
  return {f.llm / (n * static_cast<double>(budgets.llm_tokens)),
          f.vision / (n * static_cast<double>(budgets.vision_tokens)), f.samples / n};
}

void vlm_table(int64_t count) {
  train::VlmTaskOptions options;  // fashion-canvas, 1–3 garments, 4-px patches merged 2×2
  const train::VlmTask task(options, data::DataSplit::train);
  std::vector<data::SampleTokens> samples;
  for (int64_t i = 0; i < count; ++i) samples.push_back(task.tokens(0, i));
  const data::PackBudgets budgets{.llm_tokens = 1024, .vision_tokens = 4096};
  constexpr int64_t kCandidates = 512;  // kiln vlm train's candidates per step
  std::printf("\nVLM: %lld fashion-canvas samples, budgets %lld LLM / %lld ViT tokens\n\n",
              static_cast<long long>(count), static_cast<long long>(budgets.llm_tokens),
              static_cast<long long>(budgets.vision_tokens));
  std::printf("| policy | packs (stream) | LLM fill | ViT fill | samples per pack | a step's pack: LLM fill | ViT fill | samples |\n"
              "|---|---|---|---|---|---|---|---|\n");
  for (const char* name : kPolicies) {
    const data::PackingPolicy policy = data::parse_packing_policy(name, "data.pack");
    const auto stream = data::pack_samples(samples, budgets, policy, data::Overlong::error).packs;
    const Fill whole = fill_of(samples, stream, budgets);
    std::vector<std::vector<int64_t>> steps;
    for (int64_t start = 0; start + kCandidates <= count; start += kCandidates) {
      const std::span<const data::SampleTokens> window(samples.data() + start, kCandidates);
      const data::SamplePacks packs = data::pack_samples(window, budgets, policy, data::Overlong::error);
      const auto draw = philox_block({0, static_cast<uint64_t>(start)}, 0)[0];
      std::vector<int64_t> chosen = data::step_pack(packs, policy, draw);
      for (int64_t& s : chosen) s += start;
      steps.push_back(std::move(chosen));
    }
    const Fill step = fill_of(samples, steps, budgets);
    std::printf("| `%s` | %zu | %.2f%% | %.2f%% | %.2f | %.2f%% | %.2f%% | %.2f |\n", name, stream.size(),
                100 * whole.llm, 100 * whole.vision, whole.samples, 100 * step.llm, 100 * step.vision, step.samples);
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const int64_t images = argc > 1 ? std::stoll(argv[1]) : 60000;
    navit_table(images);
    vlm_table(images / 2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pack_fill_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
