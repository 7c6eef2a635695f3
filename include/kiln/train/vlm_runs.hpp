#pragma once
// Vision-language runs (`kiln vlm train|eval|generate`, SPEC-VLM §5–§8): the
// VLM trained on packed samples (rmpad or padded layout) of one of the two
// generated tasks, evaluated by greedy answers, and asked about an image file.
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::train {

struct VlmRunOptions {
  std::string config, run, image, prompt;
  std::vector<std::string> overrides;
  bool resume = false;
  bool blind = false;      // eval: image features zeroed (the language prior)
  int64_t samples = 0;     // eval: test samples (0: the run's eval.samples)
  int64_t max_new = 64;    // generate: answer bytes at most
};

void run_vlm_training(const VlmRunOptions& options);
void run_vlm_evaluation(const VlmRunOptions& options);
void run_vlm_generation(const VlmRunOptions& options);

}  // namespace kiln::train
