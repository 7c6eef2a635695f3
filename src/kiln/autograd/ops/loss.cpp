#include "kiln/autograd/ops/loss.hpp"

#include "kiln/autograd/function.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/kernels/cpu/softmax.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

Tensor cross_entropy(const Tensor& logits_in, const Tensor& targets_in, const CrossEntropyOptions& options) {
  KILN_CHECK(logits_in.dim() == 2, "cross_entropy: logits must be [N, V], got {}", logits_in.describe());
  KILN_CHECK(targets_in.dim() == 1 && targets_in.size(0) == logits_in.size(0),
             "cross_entropy: targets {} do not match logits {}", targets_in.describe(), logits_in.describe());
  KILN_CHECK(options.label_smoothing >= 0 && options.label_smoothing <= 1,
             "cross_entropy: label_smoothing must be in [0, 1], got {}", options.label_smoothing);
  const Tensor logits = logits_in.contiguous();
  const Tensor targets = targets_in.to(DType::i64).contiguous();
  const int64_t n = logits.size(0), v = logits.size(1);
  const int64_t* t = targets.data<int64_t>();
  int64_t counted = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (t[i] == options.ignore_index) continue;
    KILN_CHECK(t[i] >= 0 && t[i] < v, "cross_entropy: target {} at row {} is outside [0, {})", t[i], i, v);
    ++counted;
  }
  const int64_t divisor = options.normalizer > 0 ? options.normalizer : counted;
  const double eps = options.label_smoothing;
  Tensor lse = Tensor::empty({n}, DType::f64);
  double* plse = lse.data<double>();
  double total = 0;
  KILN_DISPATCH_FLOATING(logits.dtype(), "cross_entropy", [&] {
    total = cpu::cross_entropy_forward(logits.data<scalar_t>(), t, plse, n, v, options.ignore_index, eps);
  });
  Tensor out = Tensor::scalar(divisor > 0 ? total / static_cast<double>(divisor) : 0.0, logits.dtype());
  return record("cross_entropy", {logits_in, targets_in}, {out},
                [logits, targets, lse, divisor, eps, ignore = options.ignore_index](const TensorList& g) {
                  const int64_t n = logits.size(0), v = logits.size(1);
                  const int64_t* t = targets.data<int64_t>();
                  const double* plse = lse.data<double>();
                  Tensor grad = Tensor::empty(logits.shape(), logits.dtype());
                  const double upstream = g[0].item();
                  const double scale = divisor > 0 ? upstream / static_cast<double>(divisor) : 0.0;
                  KILN_DISPATCH_FLOATING(logits.dtype(), "cross_entropy", [&] {
                    cpu::cross_entropy_backward(logits.data<scalar_t>(), t, plse, grad.data<scalar_t>(), n, v, ignore, eps,
                                           scale);
                  });
                  return TensorList{grad, Tensor()};
                })[0];
}

CrossEntropySum cross_entropy_sum(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options) {
  KILN_CHECK(options.normalizer == 0, "cross_entropy_sum: the normalizer option ({}) has no meaning for a sum",
             options.normalizer);
  CrossEntropyOptions summed = options;
  summed.normalizer = 1;  // the summed loss divided by 1
  CrossEntropySum out{cross_entropy(logits, targets, summed), 0};
  const Tensor t = targets.to(DType::i64).contiguous();
  const int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) out.count += p[i] != options.ignore_index;
  return out;
}

Tensor mse_loss(const Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "mse_loss");
  return mean(square(sub(a, b)));
}

}  // namespace kiln::ops
