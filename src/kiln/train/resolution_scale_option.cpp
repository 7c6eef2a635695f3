#include "kiln/train/resolution_scale_option.hpp"

#include <vector>

#include "kiln/base/error.hpp"

namespace kiln::train {

data::ResolutionScale read_resolution_scale(io::ConfigFile& f) {
  const std::vector<double> range = f.get_doubles("data.resolution_scale", {1, 1});
  KILN_CHECK(range.size() == 2, "data.resolution_scale must be [lo, hi], got {} values", range.size());
  const data::ResolutionScale scale{range[0], range[1]};
  data::check_resolution_scale(scale);
  return scale;
}

}  // namespace kiln::train
