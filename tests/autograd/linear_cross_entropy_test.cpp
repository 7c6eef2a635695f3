// ops::linear_cross_entropy, the output head and its loss chunk by chunk: the
// loss and both gradients equal cross_entropy(linear(hidden, weight)) for
// every chunk size (one row, sizes that do not divide the rows, all rows),
// with label smoothing, ignored rows and a fixed normalizer; its backward
// passes central differences; a tied weight (embedding and head) gets the sum
// of both contributions; and no [N, V] buffer is ever live.
#include <gtest/gtest.h>

#include <cmath>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/gradcheck.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/embedding.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/loss.hpp"
#include "kiln/base/philox.hpp"
#include "kiln/tensor/storage.hpp"
#include "support/reference.hpp"

namespace kiln {
namespace {

Tensor uniform(const Shape& shape, uint64_t seed, double scale, DType dtype) {
  Tensor t = Tensor::empty(shape, DType::f64);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<double>()[i] = scale * (static_cast<double>(philox_block({seed, 0}, static_cast<uint64_t>(i))[0] % 20001) /
                                       10000.0 -
                                   1.0);
  return t.to(dtype);
}

Tensor leaf(const Tensor& t) {
  Tensor x = t.clone();
  x.set_requires_grad(true);
  return x;
}

// Targets in [0, v), every `ignore_every`-th row set to the ignore index.
Tensor targets_for(int64_t n, int64_t v, int64_t ignore_every, int64_t ignore_index) {
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    t[static_cast<size_t>(i)] = ignore_every > 0 && i % ignore_every == 2 ? ignore_index : (i * 7 + 3) % v;
  return Tensor::from<int64_t>(t, {n});
}

struct Result {
  double loss = 0;
  Tensor grad_h, grad_w;
};

Result unchunked(const Tensor& h0, const Tensor& w0, const Tensor& targets, const ops::CrossEntropyOptions& options) {
  Tensor h = leaf(h0), w = leaf(w0);
  const Tensor loss = ops::cross_entropy(ops::linear(h, w), targets, options);
  backward(loss);
  return {loss.item(), h.grad(), w.grad()};
}

Result chunked(const Tensor& h0, const Tensor& w0, const Tensor& targets, const ops::CrossEntropyOptions& options,
               int64_t chunk) {
  Tensor h = leaf(h0), w = leaf(w0);
  const Tensor loss = ops::linear_cross_entropy(h, w, targets, options, chunk);
  backward(loss);
  return {loss.item(), h.grad(), w.grad()};
}

struct Setting {
  const char* name;
  ops::CrossEntropyOptions options;
  int64_t ignore_every;
};

std::vector<Setting> settings() {
  return {{"plain", {}, 0},
          {"smoothing", {.label_smoothing = 0.1}, 0},
          {"ignored rows and smoothing", {.ignore_index = -100, .label_smoothing = 0.2}, 4},
          {"ignore index 5, fixed normalizer", {.ignore_index = 5, .label_smoothing = 0.0, .normalizer = 40}, 3}};
}

TEST(LinearCrossEntropy, EqualsTheUnchunkedHeadInF64ForEveryChunkSize) {
  // 10 rows, a vocabulary of 13 (prime: no chunk divides it), d = 6.
  const int64_t n = 10, v = 13, d = 6;
  const Tensor h = uniform({n, d}, 1, 1.5, DType::f64), w = uniform({v, d}, 2, 1.0, DType::f64);
  for (const Setting& s : settings()) {
    const Tensor targets = targets_for(n, v, s.ignore_every, s.options.ignore_index);
    const Result want = unchunked(h, w, targets, s.options);
    for (const int64_t chunk : {1, 3, 4, 7, 10, 64, 0}) {
      SCOPED_TRACE(std::string(s.name) + ", chunk " + std::to_string(chunk));
      const Result got = chunked(h, w, targets, s.options, chunk);
      EXPECT_NEAR(got.loss, want.loss, 1e-12);
      EXPECT_TRUE(testing::all_close(got.grad_h, want.grad_h, 1e-10, 1e-13));
      EXPECT_TRUE(testing::all_close(got.grad_w, want.grad_w, 1e-10, 1e-13));
    }
  }
}

TEST(LinearCrossEntropy, EqualsTheUnchunkedHeadInF32) {
  // GPT-2-like proportions at a test's size: 37 rows in chunks of 16 (the
  // last one of 5), a vocabulary of 1,001.
  const int64_t n = 37, v = 1001, d = 24;
  const Tensor h = uniform({n, d}, 3, 2.0, DType::f32), w = uniform({v, d}, 4, 0.5, DType::f32);
  const ops::CrossEntropyOptions options{.label_smoothing = 0.1};
  const Tensor targets = targets_for(n, v, 5, options.ignore_index);
  const Result want = unchunked(h, w, targets, options);
  const Result got = chunked(h, w, targets, options, 16);
  EXPECT_NEAR(got.loss, want.loss, 1e-5 * std::abs(want.loss));
  EXPECT_TRUE(testing::all_close(got.grad_h, want.grad_h, 1e-4, 1e-7));
  EXPECT_TRUE(testing::all_close(got.grad_w, want.grad_w, 1e-4, 1e-7));
}

TEST(LinearCrossEntropy, BackwardMatchesFiniteDifferences) {
  // gradcheck projects the loss on a weight, so backward also sees an
  // upstream gradient other than 1.
  const int64_t n = 9, v = 11, d = 5;
  const ops::CrossEntropyOptions options{.label_smoothing = 0.15};
  const Tensor targets = targets_for(n, v, 4, options.ignore_index);
  const autograd::GradcheckReport report = autograd::gradcheck(
      [&](const autograd::TensorList& x) { return ops::linear_cross_entropy(x[0], x[1], targets, options, 4); },
      {leaf(uniform({n, d}, 5, 1.0, DType::f64)), leaf(uniform({v, d}, 6, 1.0, DType::f64))});
  EXPECT_TRUE(report.ok) << report.message;
}

TEST(LinearCrossEntropy, NoRowsGiveZeroLossAndZeroGradients) {
  Tensor h = leaf(Tensor::zeros({0, 3}, DType::f64)), w = leaf(uniform({5, 3}, 15, 1.0, DType::f64));
  const Tensor loss = ops::linear_cross_entropy(h, w, Tensor::zeros({0}, DType::i64), {}, 4);
  EXPECT_EQ(loss.item(), 0.0);
  backward(loss);
  EXPECT_EQ(w.grad().to_vector<double>(), std::vector<double>(15, 0.0));
}

TEST(LinearCrossEntropy, UpstreamGradientScalesBothGradients) {
  const int64_t n = 6, v = 7, d = 3;
  const Tensor h0 = uniform({n, d}, 7, 1.0, DType::f64), w0 = uniform({v, d}, 8, 1.0, DType::f64);
  const Tensor targets = targets_for(n, v, 0, -100);
  const Result once = chunked(h0, w0, targets, {}, 4);
  Tensor h = leaf(h0), w = leaf(w0);
  backward(ops::scale(ops::linear_cross_entropy(h, w, targets, {}, 4), -2.5));
  EXPECT_TRUE(testing::all_close(h.grad(), ops::scale(once.grad_h, -2.5), 1e-12, 1e-14));
  EXPECT_TRUE(testing::all_close(w.grad(), ops::scale(once.grad_w, -2.5), 1e-12, 1e-14));
}

TEST(LinearCrossEntropy, TiedEmbeddingGetsBothContributions) {
  // A weight used as the input embedding and as the head, as GPT-2 ties them.
  const int64_t b = 2, t = 5, v = 17, d = 4;
  const Tensor w0 = uniform({v, d}, 9, 1.0, DType::f64), mix0 = uniform({d, d}, 10, 1.0, DType::f64);
  std::vector<int64_t> ids(static_cast<size_t>(b * t));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>((i * 5 + 1) % v);
  const Tensor tokens = Tensor::from<int64_t>(ids, {b * t});
  const Tensor targets = targets_for(b * t, v, 0, -100);
  const auto run = [&](bool fused) {
    Tensor w = leaf(w0), mix = leaf(mix0);
    const Tensor hidden = ops::matmul(ops::embedding(w, tokens), mix);
    backward(fused ? ops::linear_cross_entropy(hidden, w, targets, {}, 3)
                   : ops::cross_entropy(ops::linear(hidden, w), targets));
    return std::pair{w.grad(), mix.grad()};
  };
  const auto [want_w, want_mix] = run(false);
  const auto [got_w, got_mix] = run(true);
  EXPECT_TRUE(testing::all_close(got_w, want_w, 1e-10, 1e-13));
  EXPECT_TRUE(testing::all_close(got_mix, want_mix, 1e-10, 1e-13));
}

TEST(LinearCrossEntropy, SecondBackwardWithRetainedGraphAccumulates) {
  const int64_t n = 5, v = 9, d = 3;
  const Tensor h0 = uniform({n, d}, 11, 1.0, DType::f64), w0 = uniform({v, d}, 12, 1.0, DType::f64);
  const Tensor targets = targets_for(n, v, 0, -100);
  const Result once = chunked(h0, w0, targets, {}, 2);
  Tensor h = leaf(h0), w = leaf(w0);
  const Tensor loss = ops::linear_cross_entropy(h, w, targets, {}, 2);
  backward({loss}, {}, true);
  backward({loss}, {}, false);
  EXPECT_TRUE(testing::all_close(h.grad(), ops::scale(once.grad_h, 2), 1e-12, 1e-14));
  EXPECT_TRUE(testing::all_close(w.grad(), ops::scale(once.grad_w, 2), 1e-12, 1e-14));
}

TEST(LinearCrossEntropy, NeverHoldsTheFullLogits) {
  // [512, 8192] f32 logits would be 16 MiB, and their gradient 16 MiB more.
  // Chunks of 64 rows hold one 2 MiB chunk; the gradients of hidden
  // ([512, 64], 128 KiB) and weight ([8192, 64], 2 MiB) are the only other
  // buffers, and backward only hands them on.
  const int64_t n = 512, v = 8192, d = 64, logits_bytes = n * v * 4;
  Tensor h = leaf(uniform({n, d}, 13, 1.0, DType::f32)), w = leaf(uniform({v, d}, 14, 0.1, DType::f32));
  const Tensor targets = targets_for(n, v, 0, -100);
  const int64_t chunk_bytes = 64 * v * 4, grads_bytes = (n * d + v * d) * 4;
  release_cached_memory();
  reset_peak_memory();
  const int64_t before = memory_stats().live_bytes;
  const Tensor loss = ops::linear_cross_entropy(h, w, targets, {}, 64);
  EXPECT_LE(memory_stats().peak_bytes - before, chunk_bytes + grads_bytes + (64 << 10));
  EXPECT_LT(memory_stats().peak_bytes - before, logits_bytes / 2);
  release_cached_memory();
  reset_peak_memory();
  const int64_t before_backward = memory_stats().live_bytes;
  backward(loss);
  EXPECT_LE(memory_stats().peak_bytes - before_backward, 64 << 10);  // the gradients are adopted, not copied
  // Without recording, no gradient buffer at all.
  NoGradGuard no_grad;
  release_cached_memory();
  reset_peak_memory();
  const int64_t before_eval = memory_stats().live_bytes;
  const double eval = ops::linear_cross_entropy(h, w, targets, {}, 64).item();
  EXPECT_LE(memory_stats().peak_bytes - before_eval, chunk_bytes + (64 << 10));
  EXPECT_NEAR(eval, loss.item(), 1e-6);
}

}  // namespace
}  // namespace kiln
