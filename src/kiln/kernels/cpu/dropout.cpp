#include "kiln/kernels/cpu/dropout.hpp"

#include <array>

namespace kiln::cpu {

template <typename T>
void dropout_mask(const T* x, T* y, int64_t n, double p, const PhiloxKey& key) {
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

template void dropout_mask<float>(const float*, float*, int64_t, double, const PhiloxKey&);
template void dropout_mask<double>(const double*, double*, int64_t, double, const PhiloxKey&);

}  // namespace kiln::cpu
