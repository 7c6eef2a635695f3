// Activation checkpointing on a 12-layer residual stack: identical gradients
// with and without it (dropout included: its Philox key makes the recomputed
// mask the same), and a lower measured peak of live tensor memory.
#include "kiln/autograd/checkpoint.hpp"

#include <gtest/gtest.h>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/ops/activation.hpp"
#include "kiln/autograd/ops/dropout.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/norm.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/tensor/storage.hpp"

namespace kiln {
namespace {

constexpr int kLayers = 12, kWidth = 256, kTokens = 512;

struct Stack {
  std::vector<Tensor> params;  // per layer: ln weight, ln bias, w1, w2

  explicit Stack(uint64_t seed) {
    for (int l = 0; l < kLayers; ++l) {
      auto random = [&](Shape shape, double std, uint64_t stream) {
        Tensor t = Tensor::empty(shape);
        for (int64_t i = 0; i < t.numel(); ++i)
          t.data<float>()[i] = static_cast<float>(std) * philox_normal({seed, stream}, static_cast<uint64_t>(i));
        return t.set_requires_grad(true);
      };
      params.push_back(Tensor::ones({kWidth}).set_requires_grad(true));
      params.push_back(Tensor::zeros({kWidth}).set_requires_grad(true));
      params.push_back(random({4 * kWidth, kWidth}, 0.05, 2 * l));
      params.push_back(random({kWidth, 4 * kWidth}, 0.05, 2 * l + 1));
    }
  }

  Tensor block(int l, const Tensor& x) const {
    const Tensor* p = &params[4 * l];
    Tensor h = ops::layer_norm(x, p[0], p[1], 1e-5);
    h = ops::gelu(ops::linear(h, p[2]));
    h = ops::dropout(ops::linear(h, p[3]), 0.1, {99, static_cast<uint64_t>(l)});
    return ops::add(x, h);
  }

  Tensor loss(const Tensor& input, bool checkpointed) const {
    Tensor x = input;
    for (int l = 0; l < kLayers; ++l) {
      if (checkpointed) {
        x = autograd::checkpoint([this, l](const autograd::TensorList& in) { return autograd::TensorList{block(l, in[0])}; },
                                 {x})[0];
      } else {
        x = block(l, x);
      }
    }
    return ops::mean(ops::square(x));
  }
};

struct Measured {
  std::vector<std::vector<float>> grads;
  int64_t peak_bytes;
};

Measured run(bool checkpointed) {
  const Stack stack(5);
  Tensor input = Tensor::empty({kTokens, kWidth});
  for (int64_t i = 0; i < input.numel(); ++i) input.data<float>()[i] = philox_normal({7, 0}, static_cast<uint64_t>(i));
  input.set_requires_grad(true);
  release_cached_memory();
  reset_peak_memory();
  const int64_t before = memory_stats().live_bytes;
  backward(stack.loss(input, checkpointed));
  Measured m;
  m.peak_bytes = memory_stats().peak_bytes - before;
  m.grads.push_back(input.grad().to_vector<float>());
  for (const Tensor& p : stack.params) m.grads.push_back(p.grad().to_vector<float>());
  return m;
}

TEST(Checkpoint, SameGradientsAndLowerPeakMemory) {
  const Measured plain = run(false);
  const Measured saved = run(true);
  ASSERT_EQ(plain.grads.size(), saved.grads.size());
  for (size_t i = 0; i < plain.grads.size(); ++i) EXPECT_EQ(plain.grads[i], saved.grads[i]) << "tensor " << i;
  std::printf("peak live tensor memory during backward, 12 layers × [%d, %d]: plain %.1f MiB, checkpointed %.1f MiB\n",
              kTokens, kWidth, plain.peak_bytes / 1048576.0, saved.peak_bytes / 1048576.0);
  EXPECT_LT(saved.peak_bytes * 2, plain.peak_bytes);
}

}  // namespace
}  // namespace kiln
