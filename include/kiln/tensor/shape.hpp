#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

std::string to_string(const Shape& shape);  // "[2, 3, 4]"
int64_t numel_of(const Shape& shape);
Strides contiguous_strides(const Shape& shape);
// Wraps a possibly negative dimension index into [0, rank); errors name the op.
int64_t wrap_dim(int64_t dim, int64_t rank, const char* op_name);
// NumPy broadcasting of two shapes; errors name both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op_name);

}  // namespace kiln
