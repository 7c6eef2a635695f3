// Training throughput of the vision-language model of configs/kjv-ocr.toml
// on packs of OCR-shaped samples (lines 16 or 24 px high, 24–448 px wide,
// answers of 3–48 bytes), in the rmpad layout (samples concatenated, one
// causal segment each) and the padded layout (one row per sample, right-
// padded to the longest): median AdamW step time and real LLM tokens/s.
// The vision side is packed in both, as in Qwen2-VL. bench/torch_vlm.py runs
// the same model on the same packs in PyTorch; bench/vlm_compare.sh prints both.
//
// padded_all pads the images too (each to the largest, with a key mask).
//
// With --bf16 the matrix products run as train.precision = "bf16" does: on
// the bf16 GEMM where it beats f32 on this CPU, else as f32 matmuls.
//
//   vlm_layout_bench rmpad|padded|padded_all [steps] [--bf16]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/precision.hpp"
#include "kiln/base/memory.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/kernels/cpu/bf16_gemm_choice.hpp"
#include "kiln/models/vlm/vlm_model.hpp"
#include "kiln/optim/optimizer.hpp"

using namespace kiln;

namespace {

constexpr int64_t kPacks = 4, kPerPack = 10, kPatch = 4;

// The formula of bench/torch_vlm.py's workload().
std::vector<data::VlmSample> pack_samples(int64_t pack) {
  std::vector<data::VlmSample> samples;
  for (int64_t s = 0; s < kPerPack; ++s) {
    const int64_t g = pack * kPerPack + s;
    const int64_t height = g % 7 < 3 ? 24 : 16, width = 8 * (3 + (g * 37) % 54), answer = 3 + (g * 11) % 46;
    data::SampleImage image{height / kPatch, width / kPatch, {}};
    image.patches.resize(static_cast<size_t>(image.patch_count() * kPatch * kPatch));
    for (size_t i = 0; i < image.patches.size(); ++i)
      image.patches[i] = philox_normal({1, static_cast<uint64_t>(g)}, i);
    data::VlmSample sample{{image}, "", ""};
    for (int64_t j = 0; j < answer; ++j) sample.answer.push_back(static_cast<char>('a' + (g * 5 + j) % 26));
    samples.push_back(std::move(sample));
  }
  return samples;
}

models::VlmConfig ocr_model() {
  models::VlmConfig c;
  c.vision.patch_size = kPatch;
  c.vision.merge_size = 2;
  c.vision.d_model = 64;
  c.vision.n_layer = 4;
  c.vision.n_head = 4;
  c.vision.mlp_dim = 128;
  c.decoder = models::VlmConfig::default_decoder();
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  std::vector<std::string> args;
  bool bf16_mode = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--bf16")
      bf16_mode = true;
    else
      args.emplace_back(argv[i]);
  }
  const std::string layout_name = !args.empty() ? args[0] : "rmpad";
  const int steps = args.size() > 1 ? std::stoi(args[1]) : 6;
  const auto layout = layout_name == "padded"       ? data::VlmLayout::padded
                      : layout_name == "padded_all" ? data::VlmLayout::padded_all
                                                    : data::VlmLayout::rmpad;
  std::vector<data::VlmBatch> batches;
  double real = 0, slots = 0, patches = 0, patch_slots = 0;
  for (int64_t p = 0; p < kPacks; ++p) {
    batches.push_back(data::make_vlm_batch(pack_samples(p), 4, layout));
    real += static_cast<double>(batches.back().real_tokens);
    slots += static_cast<double>(batches.back().token_slots);
    const data::VlmBatch& b = batches.back();
    patch_slots += static_cast<double>(b.patches.size(0));
    patches += static_cast<double>(b.vision_rows.defined() ? b.vision_rows.numel() : b.patches.size(0));
  }
  if (bf16_mode) cpu::bf16_gemm_choice();  // the one-off probe, before any step is timed
  PrecisionGuard precision(bf16_mode ? Precision::bf16 : Precision::f32);
  models::VlmModel model(ocr_model(), 1);
  optim::AdamW adamw(model.parameters(), {});
  std::vector<double> times;
  for (int i = 0; i <= steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    adamw.zero_grad();
    backward(model.loss(batches[static_cast<size_t>(i) % batches.size()]));
    adamw.step();
    if (i > 0) times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  std::printf(
      "{\"model\": \"vlm\", \"layout\": \"%s\", \"precision\": \"%s\", \"step_ms\": %.1f, \"llm_tokens_per_s\": %.0f, \"padding\": %.3f, "
      "\"vision_padding\": %.3f}\n",
      layout_name.c_str(),
      !bf16_mode                              ? "f32"
      : cpu::bf16_gemm_choice().native        ? "bf16 GEMM"
                                              : "bf16 as f32 matmuls (bf16 GEMM slower here)",
      median * 1e3, real / kPacks / median, 1.0 - real / slots, 1.0 - patches / patch_slots);
}
