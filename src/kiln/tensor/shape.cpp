#include "kiln/tensor/shape.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kiln/base/error.hpp"

namespace kiln {

std::string to_string(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size());
  int64_t running = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = running;
    running *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

int64_t wrap_dim(int64_t dim, int64_t rank, const char* op_name) {
  const int64_t wrapped = dim < 0 ? dim + rank : dim;
  KILN_CHECK(wrapped >= 0 && wrapped < std::max<int64_t>(rank, 1), "{}: dimension {} is out of range for a {}-d tensor",
             op_name, dim, rank);
  return wrapped;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op_name) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    KILN_CHECK(da == db || da == 1 || db == 1, "{}: shapes {} and {} do not broadcast", op_name, to_string(a),
               to_string(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace kiln
