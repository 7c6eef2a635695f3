#include "kiln/autograd/ops/gru.hpp"

#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/linear.hpp"
#include "kiln/autograd/ops/shape.hpp"

namespace kiln::ops {

GruOutput gru(const Tensor& x, const Tensor& h0, const Tensor& weight_ih, const Tensor& weight_hh,
              const Tensor& bias_ih, const Tensor& bias_hh) {
  KILN_CHECK(x.dim() == 3, "gru: input must be [B, T, I], got {}", x.describe());
  const int64_t batch = x.size(0), steps = x.size(1), hidden = weight_hh.size(1);
  KILN_CHECK(weight_ih.dim() == 2 && weight_ih.size(0) == 3 * hidden && weight_ih.size(1) == x.size(2),
             "gru: weight_ih {} does not match input {} and hidden size {}", weight_ih.describe(), x.describe(), hidden);
  KILN_CHECK(weight_hh.dim() == 2 && weight_hh.size(0) == 3 * hidden, "gru: weight_hh {} must be [3H, H]",
             weight_hh.describe());
  KILN_CHECK(steps >= 1, "gru: the input {} has no time steps", x.describe());
  Tensor h = h0.defined() ? h0 : Tensor::zeros({batch, hidden}, x.dtype());
  KILN_CHECK(h.shape() == Shape({batch, hidden}), "gru: h0 {} must be [{}, {}]", h.describe(), batch, hidden);
  const Tensor input_gates = linear(x, weight_ih, bias_ih);  // [B, T, 3H]
  std::vector<Tensor> outputs;
  for (int64_t t = 0; t < steps; ++t) {
    const Tensor gi = reshape(contiguous(narrow(input_gates, 1, t, 1)), {batch, 3 * hidden});
    const Tensor gh = linear(h, weight_hh, bias_hh);
    const Tensor r = sigmoid(add(narrow(gi, 1, 0, hidden), narrow(gh, 1, 0, hidden)));
    const Tensor z = sigmoid(add(narrow(gi, 1, hidden, hidden), narrow(gh, 1, hidden, hidden)));
    const Tensor n = tanh(add(narrow(gi, 1, 2 * hidden, hidden), mul(r, narrow(gh, 1, 2 * hidden, hidden))));
    h = add(n, mul(z, sub(h, n)));
    outputs.push_back(reshape(h, {batch, 1, hidden}));
  }
  return {concat(outputs, 1), h};
}

}  // namespace kiln::ops
