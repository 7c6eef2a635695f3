#include "kiln/train/interim_navit_sizes.hpp"

#include <cmath>

#include "kiln/base/philox.hpp"

namespace kiln::train {

data::ImageSize interim_training_size(uint64_t seed, uint64_t step, int64_t slot, const data::ResizeLimits& limits) {
  const PhiloxKey key{seed, 0x6e617669ULL ^ (step << 20)};
  const double u = 0.57 + (2.0 - 0.57) * static_cast<double>(philox_uniform(key, static_cast<uint64_t>(slot)));
  const auto side = static_cast<int64_t>(std::nearbyint(28 * u));
  return data::smart_resize({side, side}, limits, "training image");
}

}  // namespace kiln::train
