#include "kiln/autograd/ops/loss.hpp"

#include "kiln/autograd/function.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/precision.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/reduce.hpp"
#include "kiln/kernels/cpu/bf16_gemm_choice.hpp"
#include "kiln/kernels/cpu/gemm.hpp"
#include "kiln/kernels/cpu/softmax.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

// The targets that count (not ignore_index), each checked to be a class of the `v`.
int64_t counted_targets(const int64_t* t, int64_t n, int64_t v, int64_t ignore_index, const char* op) {
  int64_t counted = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (t[i] == ignore_index) continue;
    KILN_CHECK(t[i] >= 0 && t[i] < v, "{}: target {} at row {} is outside [0, {})", op, t[i], i, v);
    ++counted;
  }
  return counted;
}

}  // namespace

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
  const int64_t counted = counted_targets(t, n, v, options.ignore_index, "cross_entropy");
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

namespace {

// The products of one chunk of rows of linear_cross_entropy, on f32/f64
// operands or on bf16 copies of them (f32 accumulation and results).
struct HeadProducts {
  int64_t v = 0, d = 0;

  // logits[rows, V] = h[rows, d] · wᵀ
  template <typename In, typename Out>
  void logits(const In* h, const In* w, int64_t rows, Out* out) const {
    cpu::gemm({false, true, rows, v, d, d, d, v}, Out{1}, h, w, Out{0}, out);
  }
  // grad_h[rows, d] = g[rows, V] · w
  template <typename In, typename Out>
  void grad_hidden(const In* g, const In* w, int64_t rows, Out* out) const {
    cpu::gemm({false, false, rows, d, v, v, d, d}, Out{1}, g, w, Out{0}, out);
  }
  // grad_w[V, d] (+)= g[rows, V]ᵀ · h[rows, d]
  template <typename In, typename Out>
  void grad_weight(const In* g, const In* h, int64_t rows, bool first, Out* out) const {
    cpu::gemm({true, false, v, d, rows, v, d, d}, Out{1}, g, h, first ? Out{0} : Out{1}, out);
  }
};

}  // namespace

Tensor linear_cross_entropy(const Tensor& hidden_in, const Tensor& weight_in, const Tensor& targets_in,
                            const CrossEntropyOptions& options, int64_t chunk_rows) {
  KILN_CHECK(hidden_in.dim() == 2 && weight_in.dim() == 2 && hidden_in.size(1) == weight_in.size(1),
             "linear_cross_entropy: hidden must be [N, d] and weight [V, d], got {} and {}", hidden_in.describe(),
             weight_in.describe());
  KILN_CHECK(targets_in.dim() == 1 && targets_in.size(0) == hidden_in.size(0),
             "linear_cross_entropy: targets {} do not match hidden {}", targets_in.describe(), hidden_in.describe());
  KILN_CHECK(options.label_smoothing >= 0 && options.label_smoothing <= 1,
             "linear_cross_entropy: label_smoothing must be in [0, 1], got {}", options.label_smoothing);
  check_same_dtype(hidden_in, weight_in, "linear_cross_entropy");
  KILN_CHECK(hidden_in.dtype() == DType::f32 || hidden_in.dtype() == DType::f64,
             "linear_cross_entropy: dtype {} is not supported (f32 or f64)", dtype_name(hidden_in.dtype()));
  const Tensor h = hidden_in.contiguous(), w = weight_in.contiguous();
  const Tensor targets = targets_in.to(DType::i64).contiguous();
  const int64_t n = h.size(0), d = h.size(1), v = w.size(0);
  const int64_t* t = targets.data<int64_t>();
  const int64_t counted = counted_targets(t, n, v, options.ignore_index, "linear_cross_entropy");
  const int64_t divisor = options.normalizer > 0 ? options.normalizer : counted;
  const double eps = options.label_smoothing, grad_scale = divisor > 0 ? 1.0 / static_cast<double>(divisor) : 0.0;
  const bool recording = grad_enabled();
  const bool want_h = recording && hidden_in.requires_grad(), want_w = recording && weight_in.requires_grad();
  const int64_t chunk = chunk_rows > 0 ? std::min(chunk_rows, std::max<int64_t>(n, 1)) : std::max<int64_t>(n, 1);
  const DType dtype = h.dtype();
  Tensor grad_h = want_h ? Tensor::empty({n, d}, dtype) : Tensor();
  // The first chunk writes the weight gradient; with no rows at all it is zero.
  Tensor grad_w = !want_w ? Tensor() : n > 0 ? Tensor::empty({v, d}, dtype) : Tensor::zeros({v, d}, dtype);
  Tensor buffer = Tensor::empty({chunk, v}, dtype);
  Tensor lse = Tensor::empty({chunk}, DType::f64);
  const HeadProducts products{v, d};
  // bf16 operands where linear would use them: the weight rounded once, each
  // chunk of hidden rows and of logit gradients rounded as it is used.
  const bool use_bf16 = dtype == DType::f32 && matmul_precision() == Precision::bf16 && cpu::bf16_gemm_choice().native;
  Tensor w16 = use_bf16 ? Tensor::empty({v, d}, DType::bf16) : Tensor();
  Tensor h16 = use_bf16 ? Tensor::empty({chunk, d}, DType::bf16) : Tensor();
  Tensor g16 = use_bf16 && (want_h || want_w) ? Tensor::empty({chunk, v}, DType::bf16) : Tensor();
  if (use_bf16) cpu::convert_to_bf16(w.data<float>(), w16.data<bf16>(), v * d);
  double total = 0;
  for (int64_t r0 = 0; r0 < n; r0 += chunk) {
    const int64_t rows = std::min(chunk, n - r0);
    const int64_t* tc = t + r0;
    double* plse = lse.data<double>();
    const auto run = [&](auto tag) {
      using T = decltype(tag);
      const T* hc = h.data<T>() + r0 * d;
      T* logits = buffer.data<T>();
      bool rounded = false;
      if constexpr (std::is_same_v<T, float>) rounded = use_bf16;
      if constexpr (std::is_same_v<T, float>) {
        if (rounded) {
          cpu::convert_to_bf16(hc, h16.data<bf16>(), rows * d);
          products.logits(h16.data<bf16>(), w16.data<bf16>(), rows, logits);
        }
      }
      if (!rounded) products.logits(hc, w.data<T>(), rows, logits);
      total += cpu::cross_entropy_forward(logits, tc, plse, rows, v, options.ignore_index, eps);
      if (!want_h && !want_w) return;
      // The logits become their gradient, in place.
      cpu::cross_entropy_backward(logits, tc, plse, logits, rows, v, options.ignore_index, eps, grad_scale);
      T* gh = want_h ? grad_h.data<T>() + r0 * d : nullptr;
      T* gw = want_w ? grad_w.data<T>() : nullptr;
      if constexpr (std::is_same_v<T, float>) {
        if (rounded) {
          cpu::convert_to_bf16(logits, g16.data<bf16>(), rows * v);
          if (gh) products.grad_hidden(g16.data<bf16>(), w16.data<bf16>(), rows, gh);
          if (gw) products.grad_weight(g16.data<bf16>(), h16.data<bf16>(), rows, r0 == 0, gw);
          return;
        }
      }
      if (gh) products.grad_hidden(logits, w.data<T>(), rows, gh);
      if (gw) products.grad_weight(logits, hc, rows, r0 == 0, gw);
    };
    if (dtype == DType::f32) {
      run(float{});
    } else {
      run(double{});
    }
  }
  Tensor out = Tensor::scalar(divisor > 0 ? total / static_cast<double>(divisor) : 0.0, dtype);
  if (!want_h && !want_w) return out;
  // Backward only scales the gradients by the upstream one (1 for a loss
  // that is the root). Without retain_graph the node is released right
  // after, so a gradient returned unscaled is adopted without a copy.
  return record("linear_cross_entropy", {hidden_in, weight_in, targets_in}, {out},
                [grad_h, grad_w](const TensorList& g) {
                  const double upstream = g[0].item();
                  if (upstream == 1.0) return TensorList{grad_h, grad_w, Tensor()};
                  return TensorList{grad_h.defined() ? scale(grad_h, upstream) : Tensor(),
                                    grad_w.defined() ? scale(grad_w, upstream) : Tensor(), Tensor()};
                })[0];
}

Tensor mse_loss(const Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "mse_loss");
  return mean(square(sub(a, b)));
}

}  // namespace kiln::ops
