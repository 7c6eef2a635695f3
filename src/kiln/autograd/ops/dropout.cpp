#include "kiln/autograd/ops/dropout.hpp"

#include "kiln/autograd/function.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

template <typename T>
void apply_mask(const T* x, T* y, int64_t n, double p, const PhiloxKey& key) {
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  const float threshold = static_cast<float>(p);
#pragma omp parallel for if (n > 65536)
  for (int64_t block = 0; block < (n + 3) / 4; ++block) {
    const std::array<uint32_t, 4> bits = philox_block(key, static_cast<uint64_t>(block));
    for (int64_t lane = 0; lane < 4 && block * 4 + lane < n; ++lane) {
      const int64_t i = block * 4 + lane;
      y[i] = uniform_from_bits(bits[lane]) >= threshold ? x[i] * scale : T{0};
    }
  }
}

Tensor masked(const Tensor& x_in, double p, const PhiloxKey& key) {
  const Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  KILN_DISPATCH_FLOATING(x.dtype(), "dropout", [&] {
    apply_mask<scalar_t>(x.data<scalar_t>(), y.data<scalar_t>(), x.numel(), p, key);
  });
  return y;
}

}  // namespace

Tensor dropout(const Tensor& x, double p, const PhiloxKey& key, bool training) {
  KILN_CHECK(p >= 0 && p < 1, "dropout: p must be in [0, 1), got {}", p);
  if (!training || p == 0) return x;
  Tensor out = masked(x, p, key);
  return record("dropout", {x}, {out}, [p, key](const TensorList& g) { return TensorList{masked(g[0], p, key)}; })[0];
}

}  // namespace kiln::ops
