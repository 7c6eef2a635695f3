#include "tensor_accumulate.hpp"

#include "kiln/tensor/strided.hpp"
#include "kiln/tensor/visit.hpp"

namespace kiln::autograd {

// Out of place: either operand may alias a tensor that someone else still
// reads (a saved activation, another node's gradient).
Tensor accumulate(Tensor total, const Tensor& addend) {
  if (!addend.defined()) return total;
  if (!total.defined()) return addend;
  check_same_shape(total, addend, "gradient accumulation");
  const Tensor src = addend.dtype() == total.dtype() ? addend : addend.to(total.dtype());
  Tensor sum = total.clone();
  visit_dtype(sum.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      T* d = sum.data<T>();
      const T* s = src.data<T>();
      for_each_strided<2>(sum.shape(), {sum.strides(), src.strides()},
                          [&](const std::array<int64_t, 2>& o) { d[o[0]] += s[o[1]]; });
    } else {
      fail("gradient accumulation: dtype {} is not supported", dtype_name(sum.dtype()));
    }
  });
  return sum;
}

}  // namespace kiln::autograd
