// Training throughput of the Fashion-MNIST ViT and MAE of configs/
// fmnist-{vit,mae}.toml: images/s over timed AdamW steps (forward, backward,
// update) on random images, batch 128; and the MAE encoder's cost on the
// visible patches only against all patches. bench/torch_vit.py runs the same
// models in PyTorch; bench/vision_compare.sh prints both.
//
//   vit_train_bench vit|mae|encoder [steps]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/base/memory.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/models/mae/mae.hpp"
#include "kiln/models/vit/vit.hpp"
#include "kiln/optim/optimizer.hpp"

using namespace kiln;

namespace {

models::VitConfig fmnist_vit() {
  models::VitConfig c;
  c.d_model = 64;
  c.n_layer = 6;
  c.n_head = 4;
  c.mlp_dim = 128;
  return c;
}

template <typename Step>
double median_seconds(int steps, Step step) {
  step();
  std::vector<double> times;
  for (int s = 0; s < steps; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  const std::string which = argc > 1 ? argv[1] : "vit";
  const int steps = argc > 2 ? std::stoi(argv[2]) : 10;
  const int64_t batch = 128;
  Tensor images = Tensor::empty({batch, 1, 28, 28});
  for (int64_t i = 0; i < images.numel(); ++i) images.data<float>()[i] = philox_normal({1, 2}, static_cast<uint64_t>(i));
  std::vector<int64_t> label_values;
  for (int64_t i = 0; i < batch; ++i) label_values.push_back(i % 10);
  const Tensor labels = Tensor::from<int64_t>(label_values, {batch});
  if (which == "vit") {
    models::VitModel model(fmnist_vit(), 1);
    optim::AdamW adamw(model.parameters(), {});
    const double s = median_seconds(steps, [&] {
      adamw.zero_grad();
      backward(model.loss(images, labels));
      adamw.step();
    });
    std::printf("{\"model\": \"vit\", \"batch\": %lld, \"step_ms\": %.1f, \"images_per_s\": %.0f}\n",
                static_cast<long long>(batch), s * 1e3, static_cast<double>(batch) / s);
  } else if (which == "mae") {
    models::MaeConfig c;
    c.encoder = fmnist_vit();
    c.norm_pix_loss = true;
    models::MaeModel model(c, 1);
    optim::AdamW adamw(model.parameters(), {});
    int draw = 0;
    const double s = median_seconds(steps, [&] {
      adamw.zero_grad();
      backward(model.forward(images, models::random_patch_mask(batch, 49, 0.75, 1, draw++)).loss);
      adamw.step();
    });
    std::printf("{\"model\": \"mae\", \"batch\": %lld, \"step_ms\": %.1f, \"images_per_s\": %.0f}\n",
                static_cast<long long>(batch), s * 1e3, static_cast<double>(batch) / s);
  } else {
    models::MaeConfig c;
    c.encoder = fmnist_vit();
    const models::MaeModel model(c, 1);
    double seconds[2];
    for (double ratio : {0.0, 0.75}) {
      const models::PatchMask mask = models::random_patch_mask(batch, 49, ratio, 1, 0);
      seconds[ratio > 0] = median_seconds(steps, [&] { backward(ops::sum(model.encode_visible(images, mask))); });
    }
    std::printf("{\"model\": \"mae-encoder\", \"all_patches_ms\": %.1f, \"visible_ms\": %.1f, \"speedup\": %.2f}\n",
                seconds[0] * 1e3, seconds[1] * 1e3, seconds[0] / seconds[1]);
  }
}
