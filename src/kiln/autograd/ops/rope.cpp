#include "kiln/autograd/ops/rope.hpp"

#include "kiln/autograd/function.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

cpu::RopeShape input_shape(const Tensor& x) {
  KILN_CHECK(x.dim() == 3 || x.dim() == 4, "rope: input must be [B, T, H, D] or [T, H, D], got {}", x.describe());
  KILN_CHECK(x.size(-1) % 2 == 0, "rope: head dimension of {} must be even", x.describe());
  KILN_CHECK(is_floating(x.dtype()), "rope: input must be floating point, got {}", x.describe());
  return {x.dim() == 4 ? x.size(0) : 1, x.size(-3), x.size(-2), x.size(-1), false};
}

void check_integer(const Tensor& positions) {
  KILN_CHECK(positions.dtype() == DType::i64 || positions.dtype() == DType::i32,
             "rope: positions must be integers, got {}", positions.describe());
}

// Positions [rows, T] or [T] for 1-D RoPE.
cpu::RopeShape text_shape(const Tensor& x, const Tensor& positions) {
  cpu::RopeShape s = input_shape(x);
  check_integer(positions);
  if (positions.dim() == 2) {
    KILN_CHECK(positions.size(0) == s.rows && positions.size(1) == s.length,
               "rope: positions {} do not match input {}", positions.describe(), x.describe());
    s.positions_per_row = true;
  } else {
    KILN_CHECK(positions.dim() == 1 && positions.size(0) == s.length, "rope: positions {} do not match input {}",
               positions.describe(), x.describe());
  }
  return s;
}

// Positions [A, T] or [A, rows, T] for a slot table over A axes.
cpu::RopeShape slot_shape(const Tensor& x, const Tensor& positions, const cpu::RopeSlots& slots) {
  cpu::RopeShape s = input_shape(x);
  check_integer(positions);
  KILN_CHECK(slots.pairs() == s.head_dim / 2, "rope: the slot table has {} pairs, the heads of {} need {}",
             slots.pairs(), x.describe(), s.head_dim / 2);
  const bool shared = positions.dim() == 2 && positions.size(0) == slots.axes && positions.size(1) == s.length;
  const bool per_row = positions.dim() == 3 && positions.size(0) == slots.axes && positions.size(1) == s.rows &&
                       positions.size(2) == s.length;
  KILN_CHECK(shared || per_row, "rope: positions {} do not match input {} with {} position axes",
             positions.describe(), x.describe(), slots.axes);
  s.positions_per_row = per_row;
  return s;
}

Tensor rotate(const Tensor& x_in, const Tensor& pos, const cpu::RopeShape& shape, const cpu::RopeSlots& slots,
              bool inverse) {
  const Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  KILN_DISPATCH_FLOATING(x.dtype(), "rope", [&] {
    cpu::rope(x.data<scalar_t>(), y.data<scalar_t>(), pos.data<int64_t>(), shape, slots, inverse);
  });
  return y;
}

Tensor rope_with_slots(const Tensor& x, const Tensor& positions, const cpu::RopeShape& shape,
                       cpu::RopeSlots slots) {
  const Tensor pos = positions.to(DType::i64).contiguous();
  Tensor out = rotate(x, pos, shape, slots, false);
  return record("rope", {x}, {out}, [pos, shape, slots = std::move(slots)](const TensorList& grads) {
    return TensorList{rotate(grads[0], pos, shape, slots, true)};
  })[0];
}

}  // namespace

Tensor rope(const Tensor& x, const Tensor& positions, double theta, bool interleaved) {
  const cpu::RopeShape shape = text_shape(x, positions);
  return rope_with_slots(x, positions, shape, cpu::text_rope_slots(shape.head_dim, theta, interleaved));
}

Tensor rope(const Tensor& x, const Tensor& positions, const cpu::RopeSlots& slots) {
  return rope_with_slots(x, positions, slot_shape(x, positions, slots), slots);
}

}  // namespace kiln::ops
