#include "tensor_accumulate.hpp"

#include "kiln/tensor/strided.hpp"
#include "kiln/tensor/visit.hpp"

namespace kiln::autograd {

// Out of place when `total` may be seen by anyone else (a saved activation,
// another node's gradient, a view); in place when this handle is the only
// owner of its whole buffer, as for a gradient moved out of the engine's
// buffers: a tied embedding's [V, d] gradient then takes its second
// contribution without a third [V, d] buffer.
Tensor accumulate(Tensor total, const Tensor& addend) {
  if (!addend.defined()) return total;
  if (!total.defined()) return addend;
  check_same_shape(total, addend, "gradient accumulation");
  const Tensor src = addend.dtype() == total.dtype() ? addend : addend.to(total.dtype());
  const bool owned = total.storage().use_count() == 1 && total.is_contiguous() && total.offset() == 0 &&
                     total.storage()->bytes() == static_cast<size_t>(total.numel()) * dtype_size(total.dtype()) &&
                     src.storage() != total.storage();
  Tensor sum = owned ? std::move(total) : total.clone();
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
