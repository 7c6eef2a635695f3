#include "kiln/autograd/ops/linear.hpp"

#include "kiln/autograd/function.hpp"
#include "kiln/autograd/precision.hpp"
#include "kiln/autograd/ops/elementwise.hpp"
#include "kiln/autograd/ops/shape.hpp"
#include "kiln/kernels/cpu/bf16_gemm_choice.hpp"
#include "kiln/kernels/cpu/fp8_quant.hpp"
#include "kiln/kernels/cpu/gemm.hpp"

namespace kiln::ops {

using autograd::record;
using autograd::TensorList;

namespace {

struct MatmulGeometry {
  int64_t batch = 1;  // number of independent products
  bool shared_b = false;
  int64_t m = 0, n = 0, k = 0;
  Shape out_shape;
};

MatmulGeometry geometry(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  KILN_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: need at least 2-d operands, got {} and {}", a.describe(),
             b.describe());
  MatmulGeometry g;
  g.m = trans_a ? a.size(-1) : a.size(-2);
  const int64_t ka = trans_a ? a.size(-2) : a.size(-1);
  g.k = trans_b ? b.size(-1) : b.size(-2);
  g.n = trans_b ? b.size(-2) : b.size(-1);
  KILN_CHECK(ka == g.k, "matmul: inner dimensions differ: {}{} · {}{}", a.describe(), trans_a ? "ᵀ" : "",
             b.describe(), trans_b ? "ᵀ" : "");
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  const Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  g.shared_b = b.dim() == 2;
  KILN_CHECK(g.shared_b || batch_a == batch_b, "matmul: batch dimensions of {} and {} differ", a.describe(),
             b.describe());
  g.batch = numel_of(batch_a);
  g.out_shape = batch_a;
  g.out_shape.push_back(g.m);
  g.out_shape.push_back(g.n);
  return g;
}

// out = op(a) · op(b) on contiguous inputs, with operands of type In and an
// output of type Out (bf16 operands accumulate and write f32). A shared,
// untransposed-a product is one tall GEMM; any other batch is one batched
// (strided) GEMM, not a loop of small ones.
template <typename In, typename Out>
void run_matmul(const In* pa, const In* pb, bool trans_a, bool trans_b, const MatmulGeometry& g, Out* po) {
  cpu::GemmShape s{trans_a, trans_b, g.m, g.n, g.k, trans_a ? g.m : g.k, trans_b ? g.k : g.n, g.n};
  if (g.shared_b && !trans_a) {
    s.m = g.m * g.batch;  // one tall product instead of a loop
    cpu::gemm(s, Out{1}, pa, pb, Out{0}, po);
    return;
  }
  const cpu::GemmBatch batch{g.batch, g.m * g.k, g.shared_b ? 0 : g.k * g.n, g.m * g.n};
  cpu::gemm_batched(s, batch, Out{1}, pa, pb, Out{0}, po);
}

template <typename T>
void run_matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, const MatmulGeometry& g, Tensor& out) {
  run_matmul(a.data<T>(), b.data<T>(), trans_a, trans_b, g, out.data<T>());
}

// A bf16 copy of a contiguous f32 tensor (round to nearest even).
Tensor round_to_bf16(const Tensor& x) {
  Tensor x16 = Tensor::empty(x.shape(), DType::bf16);
  cpu::convert_to_bf16(x.data<float>(), x16.data<bf16>(), x.numel());
  return x16;
}

// The value an E4M3 GEMM sees for one operand stored [rows, cols]: grouped
// along the GEMM's inner dimension K (its last stored axis unless
// `k_along_rows`), in 128×128 blocks when it is a weight.
Tensor fp8_fake_quantize(const Tensor& x, bool k_along_rows, bool weight) {
  const int64_t cols = x.size(-1), rows = x.numel() / std::max<int64_t>(cols, 1);
  const cpu::Fp8Grouping grouping =
      weight ? cpu::Fp8Grouping::blocks : (k_along_rows ? cpu::Fp8Grouping::cols : cpu::Fp8Grouping::rows);
  Tensor out = Tensor::empty(x.shape(), DType::f32);
  cpu::fp8_dequantize(cpu::fp8_quantize(x.data<float>(), rows, cols, grouping), out.data<float>());
  return out;
}

Tensor matmul_forward(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  check_same_dtype(a, b, "matmul");
  const MatmulGeometry g = geometry(a, b, trans_a, trans_b);
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  if (a.dtype() == DType::bf16) {
    // Operands already rounded by the bf16 path: f32 accumulation and result.
    Tensor out = Tensor::empty(g.out_shape, DType::f32);
    run_matmul(ac.data<bf16>(), bc.data<bf16>(), trans_a, trans_b, g, out.data<float>());
    return out;
  }
  Tensor out = Tensor::empty(g.out_shape, a.dtype());
  if (a.dtype() == DType::f32 && matmul_precision() == Precision::fp8) {
    // A batched a ([..., m, k]) is grouped per row like a token matrix; a
    // shared 2-d b is a weight (blocks); a transposed operand has K along rows.
    const bool b_is_weight = g.shared_b && !trans_a;
    const Tensor aq = fp8_fake_quantize(ac, trans_a, false);
    const Tensor bq = fp8_fake_quantize(bc, !trans_b, b_is_weight);
    run_matmul<float>(aq, bq, trans_a, trans_b, g, out);
    return out;
  }
  KILN_DISPATCH_FLOATING(a.dtype(), "matmul", [&] { run_matmul<scalar_t>(ac, bc, trans_a, trans_b, g, out); });
  return out;
}

// C = op(A)·op(B):  dop(A) = G·op(B)ᵀ,  dop(B) = op(A)ᵀ·G.
TensorList matmul_backward(const Tensor& a, const Tensor& b, const Tensor& g, bool trans_a, bool trans_b) {
  Tensor ga = trans_a ? matmul_forward(b, g, trans_b, true) : matmul_forward(g, b, false, !trans_b);
  Tensor gb;
  if (b.dim() == 2 && a.dim() > 2) {
    // Shared b, untransposed a: fold the batch into rows.
    const Tensor a2 = a.reshape({a.numel() / a.size(-1), a.size(-1)});
    const Tensor g2 = g.reshape({g.numel() / g.size(-1), g.size(-1)});
    gb = trans_b ? matmul_forward(g2, a2, true, false) : matmul_forward(a2, g2, true, false);
  } else {
    gb = trans_b ? matmul_forward(g, a, true, trans_a) : matmul_forward(a, g, !trans_a, false);
  }
  return TensorList{ga, gb};
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  if (b.dim() == 2 && a.dim() > 2 && trans_a) {
    // Uncommon layout: give b the batch dims explicitly so every path below
    // sees either a shared, untransposed-a product or matching batches.
    Shape batched(a.shape().begin(), a.shape().end() - 2);
    batched.push_back(b.size(0));
    batched.push_back(b.size(1));
    return matmul(a, contiguous(expand(b, batched)), trans_a, trans_b);
  }
  // Where this CPU's bf16 GEMM is slower than its f32 one (or absent), bf16
  // matmuls run as f32 ones: bf16 must never cost a user speed
  // (kernels/cpu/bf16_gemm_choice.hpp; the trainer says so once).
  if (a.dtype() == DType::f32 && b.dtype() == DType::f32 && matmul_precision() == Precision::bf16 &&
      cpu::bf16_gemm_choice().native) {
    // Like autocast: round each operand to bf16 once, multiply with f32
    // accumulation, and keep the bf16 copies (not the f32 operands) for
    // backward, whose two GEMMs then run in bf16 as well (the incoming
    // gradient rounded once), whatever the precision when backward runs.
    // Gradients come out f32.
    const Tensor a16 = round_to_bf16(a.contiguous()), b16 = round_to_bf16(b.contiguous());
    Tensor out = matmul_forward(a16, b16, trans_a, trans_b);
    return record("matmul", {a, b}, {out}, [a16, b16, trans_a, trans_b](const TensorList& grads) {
             return matmul_backward(a16, b16, round_to_bf16(grads[0].contiguous()), trans_a, trans_b);
           })[0];
  }
  Tensor out = matmul_forward(a, b, trans_a, trans_b);
  return record("matmul", {a, b}, {out},
                [a = a.detach(), b = b.detach(), trans_a, trans_b](const TensorList& grads) {
                  return matmul_backward(a, b, grads[0], trans_a, trans_b);
                })[0];
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  KILN_CHECK(weight.dim() == 2, "linear: weight must be [out, in], got {}", weight.describe());
  KILN_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input {} does not match weight {}",
             x.describe(), weight.describe());
  Tensor out = x.dim() == 1 ? reshape(matmul(reshape(x, {1, x.size(0)}), weight, false, true), {weight.size(0)})
                            : matmul(x, weight, false, true);
  if (!bias.defined()) return out;
  KILN_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear: bias {} does not match weight {}",
             bias.describe(), weight.describe());
  return add(out, bias);
}

}  // namespace kiln::ops
