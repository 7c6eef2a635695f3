"""More golden data for the neural-network ops (companion of ops_nn.py):
every op in f64 too, and the edge cases — large logits, a non-default
ignore_index with label smoothing, a vocabulary that is no multiple of the
vector width, a LayerNorm input with a large common offset, [T, H, D] RoPE
with large positions, i32 embedding ids, activations over a wide range.
RMSNorm and RoPE are written out by hand (PyTorch 1.13 has neither).

    /usr/bin/python3 tests/reference/ops_nn_more.py
"""
import torch
import torch.nn.functional as F

from golden import leaf, rms_norm, rope, run_case, save

g = torch.Generator().manual_seed(2)
out = {}
f64 = torch.float64


# --- every op in f64 (the C++ side compares at rtol 1e-10) -----------------
run_case(out, "layer_norm.f64", [leaf((4, 16), g, dtype=f64), leaf((16,), g, dtype=f64), leaf((16,), g, dtype=f64)],
         lambda x, w, b: F.layer_norm(x, (16,), w, b, 1e-5), g)
run_case(out, "rms_norm.f64", [leaf((2, 3, 16), g, dtype=f64), leaf((16,), g, dtype=f64)], rms_norm, g)
run_case(out, "gelu_erf.f64", [leaf((5, 7), g, 2.0, f64)], F.gelu, g)
run_case(out, "gelu_tanh.f64", [leaf((5, 7), g, 2.0, f64)], lambda x: F.gelu(x, approximate="tanh"), g)
run_case(out, "silu.f64", [leaf((5, 7), g, 2.0, f64)], F.silu, g)
run_case(out, "swiglu.f64", [leaf((5, 7), g, 2.0, f64), leaf((5, 7), g, dtype=f64)], lambda a, b: F.silu(a) * b, g)
run_case(out, "softmax.f64", [leaf((4, 9), g, 3.0, f64)], lambda x: torch.softmax(x, -1), g)
run_case(out, "log_softmax.f64", [leaf((4, 9), g, 3.0, f64)], lambda x: torch.log_softmax(x, -1), g)
ids = torch.tensor([[1, 4, 1], [0, 6, 2]])
out["embedding.f64.ids"] = ids
run_case(out, "embedding.f64", [leaf((7, 5), g, dtype=f64)], lambda w: F.embedding(ids, w), g)
targets = torch.tensor([3, -100, 0, 9, 3, 1])
out["cross_entropy.f64.targets"] = targets
run_case(out, "cross_entropy.f64", [leaf((6, 10), g, 2.0, f64)],
         lambda x: F.cross_entropy(x, targets, label_smoothing=0.1), g)
run_case(out, "mse.f64", [leaf((3, 4), g, dtype=f64), leaf((3, 4), g, dtype=f64)], F.mse_loss, g)
positions = torch.tensor([[0, 1, 2, 3, 4], [7, 3, 0, 11, 2]])
out["rope.f64.positions"] = positions
run_case(out, "rope_interleaved.f64", [leaf((2, 5, 3, 8), g, dtype=f64)],
         lambda x: rope(x, positions, 10000.0, True), g)
run_case(out, "rope_half.f64", [leaf((2, 5, 3, 8), g, dtype=f64)], lambda x: rope(x, positions, 10000.0, False), g)

# --- f32 edge cases ----------------------------------------------------------
# Logits far from zero: a softmax that does not subtract the row maximum overflows.
big = (torch.randn(3, 37, generator=g, dtype=f64) * 4 + torch.tensor([[1000.0], [-1000.0], [80.0]], dtype=f64))
run_case(out, "softmax_large", [big.float().requires_grad_(True)], lambda x: torch.softmax(x, -1), g)
run_case(out, "log_softmax_large", [big.float().requires_grad_(True)], lambda x: torch.log_softmax(x, -1), g)
# A vocabulary of 1003 (no multiple of 8 or 16: the vector loops' tails run), smoothing, no ignored rows.
wide_targets = torch.randint(0, 1003, (24,), generator=g)
out["cross_entropy_wide.targets"] = wide_targets
run_case(out, "cross_entropy_wide", [leaf((24, 1003), g, 5.0)],
         lambda x: F.cross_entropy(x, wide_targets, label_smoothing=0.1), g)
# ignore_index 7 with label smoothing 0.2: rows with target 7 contribute nothing and are not counted.
ignore7_targets = torch.tensor([7, 2, 7, 0, 4])
out["cross_entropy_ignore7.targets"] = ignore7_targets
run_case(out, "cross_entropy_ignore7", [leaf((5, 8), g, 2.0)],
         lambda x: F.cross_entropy(x, ignore7_targets, ignore_index=7, label_smoothing=0.2), g)
# The sum and the count a trainer needs for token-weighted means.
out["cross_entropy_sum.targets"] = targets
out["cross_entropy_sum.count"] = (targets != -100).sum()
run_case(out, "cross_entropy_sum", [leaf((6, 10), g, 2.0)],
         lambda x: F.cross_entropy(x, targets, reduction="sum", label_smoothing=0.1), g)
# LayerNorm on inputs with a common offset of 300: a one-pass E[x²] − E[x]² variance would cancel.
# PyTorch's f32 layer_norm is itself ~1e-4 off here, so the reference is exact:
# computed in f64 from the f32 inputs, then rounded to f32.
offset = (torch.randn(2, 3, 33, generator=g, dtype=f64) + 300.0).float().double().requires_grad_(True)
exact = {}
run_case(exact, "layer_norm_offset",
         [offset, leaf((33,), g).detach().double().requires_grad_(True),
          leaf((33,), g).detach().double().requires_grad_(True)],
         lambda x, w, b: F.layer_norm(x, (33,), w, b, 1e-5), g)
out.update({k: v.detach().float() for k, v in exact.items()})
run_case(out, "rms_norm_odd", [leaf((5, 33), g, 3.0), leaf((33,), g)], lambda x, w: rms_norm(x, w, 1e-5), g)
# [T, H, D] input with positions [T], some far out (angles must not lose precision).
positions_3d = torch.tensor([0, 1, 100, 4095, 65535, 3])
out["rope_3d.positions"] = positions_3d
run_case(out, "rope_3d_interleaved", [leaf((6, 2, 10), g)], lambda x: rope(x, positions_3d, 10000.0, True), g)
run_case(out, "rope_3d_half", [leaf((6, 2, 10), g)], lambda x: rope(x, positions_3d, 500000.0, False), g)
# i32 ids, repeated (the backward scatter-adds), in a [2, 2, 2] shape.
ids32 = torch.tensor([[[4, 0], [4, 4]], [[2, 1], [0, 3]]], dtype=torch.int32)
out["embedding_i32.ids"] = ids32
run_case(out, "embedding_i32", [leaf((5, 3), g)], lambda w: F.embedding(ids32.long(), w), g)
# Activations over a wide range (tanh and sigmoid saturate; exp must not overflow).
wide = torch.linspace(-30, 30, 97, dtype=f64).reshape(1, 97).float().requires_grad_(True)
run_case(out, "gelu_erf_wide", [wide], F.gelu, g)
run_case(out, "gelu_tanh_wide", [wide.detach().clone().requires_grad_(True)], lambda x: F.gelu(x, approximate="tanh"), g)
run_case(out, "silu_wide", [wide.detach().clone().requires_grad_(True)], F.silu, g)
run_case(out, "swiglu_wide", [wide.detach().clone().requires_grad_(True), leaf((1, 97), g)],
         lambda a, b: F.silu(a) * b, g)
save("ops_nn_more", out, {"torch": torch.__version__, "script": "tests/reference/ops_nn_more.py"})
