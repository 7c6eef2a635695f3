#include "kiln/autograd/gradcheck.hpp"

#include <cmath>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/base/philox.hpp"

namespace kiln::autograd {

namespace {

Tensor projection_weights(const Shape& shape, uint64_t seed) {
  Tensor w = Tensor::empty(shape, DType::f64);
  double* p = w.data<double>();
  for (int64_t i = 0; i < w.numel(); ++i) p[i] = 2.0 * philox_uniform({seed, 7}, static_cast<uint64_t>(i)) - 1.0;
  return w;
}

double projected(const Tensor& out, const Tensor& w) {
  const Tensor o = out.to(DType::f64).contiguous();
  const double* po = o.data<double>();
  const double* pw = w.data<double>();
  double total = 0;
  for (int64_t i = 0; i < o.numel(); ++i) total += po[i] * pw[i];
  return total;
}

}  // namespace

GradcheckReport gradcheck(const std::function<Tensor(const TensorList&)>& fn, TensorList inputs,
                          const GradcheckOptions& options) {
  GradcheckReport report;
  for (Tensor& t : inputs) {
    if (!t.defined() || !t.requires_grad()) continue;
    KILN_CHECK(t.dtype() == DType::f64, "gradcheck: input {} must be f64", t.describe());
    t = t.contiguous().clone().set_requires_grad(true);
  }
  const Tensor out = fn(inputs);
  const Tensor w = projection_weights(out.shape(), options.seed);
  const Tensor w_typed = w.to(out.dtype());
  backward(out, w_typed);

  NoGradGuard no_grad;
  for (size_t n = 0; n < inputs.size(); ++n) {
    Tensor& x = inputs[n];
    if (!x.defined() || !x.requires_grad()) continue;
    const Tensor analytic = x.grad().defined() ? x.grad().to(DType::f64).contiguous() : Tensor::zeros(x.shape(), DType::f64);
    double* px = x.data<double>();
    const double* pa = analytic.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double saved = px[i];
      px[i] = saved + options.eps;
      const double plus = projected(fn(inputs), w);
      px[i] = saved - options.eps;
      const double minus = projected(fn(inputs), w);
      px[i] = saved;
      const double numeric = (plus - minus) / (2 * options.eps);
      const double error = std::abs(numeric - pa[i]);
      report.max_abs_error = std::max(report.max_abs_error, error);
      if (report.ok && error > options.atol + options.rtol * std::abs(numeric)) {
        report.ok = false;
        report.message = fmt::format("input {} element {}: backward {:.10g}, finite difference {:.10g}", n, i, pa[i],
                                     numeric);
      }
    }
  }
  return report;
}

}  // namespace kiln::autograd
