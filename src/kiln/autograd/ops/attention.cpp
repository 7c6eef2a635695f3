#include "kiln/autograd/ops/attention.hpp"

#include <cmath>

#include "kiln/autograd/function.hpp"
#include "kiln/kernels/cpu/attention.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

struct Prepared {
  cpu::AttentionShape shape;
  Tensor cu_seqlens;  // i64, contiguous
  Tensor key_keep;    // u8, contiguous
  Tensor key_bias;    // f32, contiguous
  double scale = 1.0;
  bool causal = false;

  cpu::AttentionMask mask() const {
    cpu::AttentionMask m;
    m.causal = causal;
    m.scale = scale;
    if (cu_seqlens.defined()) {
      m.cu_seqlens = cu_seqlens.data<int64_t>();
      m.segments = cu_seqlens.numel() - 1;
    }
    if (key_keep.defined()) m.key_keep = key_keep.data<uint8_t>();
    if (key_bias.defined()) m.key_bias = key_bias.data<float>();
    return m;
  }
};

Prepared prepare(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o) {
  KILN_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
             "attention: q, k, v must be [B, T, H, D], got {}, {}, {}", q.describe(), k.describe(), v.describe());
  check_same_shape(k, v, "attention (k and v)");
  check_same_dtype(q, k, "attention");
  check_same_dtype(q, v, "attention");
  KILN_CHECK(q.size(0) == k.size(0) && q.size(3) == k.size(3), "attention: q {} and k {} differ in batch or head size",
             q.describe(), k.describe());
  KILN_CHECK(q.size(2) % k.size(2) == 0, "attention: {} query heads are not a multiple of {} key/value heads",
             q.size(2), k.size(2));
  Prepared p;
  p.shape = {q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3)};
  p.scale = o.scale > 0 ? o.scale : 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  p.causal = o.causal;
  if (o.cu_seqlens.defined()) {
    KILN_CHECK(o.cu_seqlens.dim() == 1 && o.cu_seqlens.numel() >= 2, "attention: cu_seqlens must be [n+1], got {}",
               o.cu_seqlens.describe());
    p.cu_seqlens = o.cu_seqlens.to(DType::i64).contiguous();
  }
  if (o.key_padding_mask.defined()) {
    KILN_CHECK(o.key_padding_mask.shape() == Shape({q.size(0), k.size(1)}),
               "attention: key_padding_mask {} must be [B, S] = [{}, {}]", o.key_padding_mask.describe(), q.size(0),
               k.size(1));
    p.key_keep = o.key_padding_mask.to(DType::u8).contiguous();
  }
  if (o.key_bias.defined()) {
    KILN_CHECK(o.key_bias.shape() == Shape({q.size(0), k.size(1)}) && is_floating(o.key_bias.dtype()),
               "attention: key_bias {} must be floating [B, S] = [{}, {}]", o.key_bias.describe(), q.size(0),
               k.size(1));
    p.key_bias = o.key_bias.detach().to(DType::f32).contiguous();
  }
  return p;
}

}  // namespace

Tensor attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const AttentionOptions& options) {
  const Prepared p = prepare(q_in, k_in, v_in, options);
  const Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
  Tensor out = Tensor::empty(q.shape(), q.dtype());
  Tensor lse = Tensor::empty({p.shape.batch, p.shape.heads, p.shape.q_len}, q.dtype());
  KILN_DISPATCH_FLOATING(q.dtype(), "attention", [&] {
    cpu::attention_forward<scalar_t>(q.data<scalar_t>(), k.data<scalar_t>(), v.data<scalar_t>(), out.data<scalar_t>(),
                                     lse.data<scalar_t>(), p.shape, p.mask());
  });
  return record("attention", {q_in, k_in, v_in}, {out}, [q, k, v, out, lse, p](const TensorList& g) {
    const Tensor dout = g[0].contiguous();
    Tensor dq = Tensor::empty(q.shape(), q.dtype()), dk = Tensor::empty(k.shape(), k.dtype()),
           dv = Tensor::empty(v.shape(), v.dtype());
    KILN_DISPATCH_FLOATING(q.dtype(), "attention", [&] {
      cpu::attention_backward<scalar_t>(q.data<scalar_t>(), k.data<scalar_t>(), v.data<scalar_t>(),
                                        out.data<scalar_t>(), lse.data<scalar_t>(), dout.data<scalar_t>(),
                                        dq.data<scalar_t>(), dk.data<scalar_t>(), dv.data<scalar_t>(), p.shape,
                                        p.mask());
    });
    return TensorList{dq, dk, dv};
  })[0];
}

}  // namespace kiln::ops
