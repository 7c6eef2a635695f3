"""Golden data for the neural-network ops: norms, activations, softmax,
embedding, losses, RoPE and attention. RMSNorm, RoPE and attention are
written out by hand (PyTorch 1.13 has none of them as functions)."""
import math

import torch
import torch.nn.functional as F

from golden import leaf, rms_norm, rope, run_case, save

g = torch.Generator().manual_seed(1)
out = {}


def attention(q, k, v, causal=False, segments=None, keep=None, bias=None):
    B, T, H, D = q.shape
    S = k.shape[1]
    group = H // k.shape[2]
    k, v = k.repeat_interleave(group, 2), v.repeat_interleave(group, 2)
    scores = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(D)
    if bias is not None:  # a per-key additive bias [B, S] (ToMe's proportional attention)
        scores = scores + bias.to(scores.dtype)[:, None, None, :]
    allowed = torch.ones(B, T, S, dtype=torch.bool)
    if segments is not None:
        allowed = torch.zeros(B, T, S, dtype=torch.bool)
        for s, e in segments:
            allowed[:, s:e, s:e] = True
    if causal:
        allowed &= torch.ones(T, S, dtype=torch.bool).tril(S - T)
    if keep is not None:
        allowed &= keep[:, None, :].bool()
    scores = scores.masked_fill(~allowed[:, None], float("-inf"))
    p = torch.softmax(scores, -1).nan_to_num(0.0)  # rows with no visible key → 0
    return torch.einsum("bhts,bshd->bthd", p, v)


run_case(out, "layer_norm", [leaf((4, 16), g), leaf((16,), g), leaf((16,), g)],
         lambda x, w, b: F.layer_norm(x, (16,), w, b, 1e-5), g)
run_case(out, "rms_norm", [leaf((2, 3, 16), g), leaf((16,), g)], rms_norm, g)
run_case(out, "gelu_erf", [leaf((5, 7), g, 2.0)], F.gelu, g)
run_case(out, "gelu_tanh", [leaf((5, 7), g, 2.0)], lambda x: F.gelu(x, approximate="tanh"), g)
run_case(out, "silu", [leaf((5, 7), g, 2.0)], F.silu, g)
run_case(out, "swiglu", [leaf((5, 7), g, 2.0), leaf((5, 7), g)], lambda a, b: F.silu(a) * b, g)
run_case(out, "softmax", [leaf((4, 9), g, 3.0)], lambda x: torch.softmax(x, -1), g)
run_case(out, "log_softmax", [leaf((4, 9), g, 3.0)], lambda x: torch.log_softmax(x, -1), g)
ids = torch.tensor([[1, 4, 1], [0, 6, 2]])
out["embedding.ids"] = ids
run_case(out, "embedding", [leaf((7, 5), g)], lambda w: F.embedding(ids, w), g)
targets = torch.tensor([3, -100, 0, 9, 3, 1])
out["cross_entropy.targets"] = targets
run_case(out, "cross_entropy", [leaf((6, 10), g, 2.0)], lambda x: F.cross_entropy(x, targets), g)
run_case(out, "cross_entropy_smooth", [leaf((6, 10), g, 2.0)],
         lambda x: F.cross_entropy(x, targets, label_smoothing=0.1), g)
run_case(out, "mse", [leaf((3, 4), g), leaf((3, 4), g)], F.mse_loss, g)
positions = torch.tensor([[0, 1, 2, 3, 4], [7, 3, 0, 11, 2]])
out["rope.positions"] = positions
run_case(out, "rope_interleaved", [leaf((2, 5, 3, 8), g)], lambda x: rope(x, positions, 10000.0, True), g)
run_case(out, "rope_half", [leaf((2, 5, 3, 8), g)], lambda x: rope(x, positions, 10000.0, False), g)
run_case(out, "attn_causal", [leaf((2, 7, 4, 8), g), leaf((2, 7, 4, 8), g), leaf((2, 7, 4, 8), g)],
         lambda q, k, v: attention(q, k, v, causal=True), g)
run_case(out, "attn_full_gqa", [leaf((2, 6, 4, 8), g), leaf((2, 9, 2, 8), g), leaf((2, 9, 2, 8), g)],
         attention, g)
run_case(out, "attn_causal_gqa_long", [leaf((1, 150, 4, 16), g), leaf((1, 150, 2, 16), g), leaf((1, 150, 2, 16), g)],
         lambda q, k, v: attention(q, k, v, causal=True), g)
segments = [(0, 5), (5, 9), (9, 12)]
out["attn_varlen.cu_seqlens"] = torch.tensor([0, 5, 9, 12], dtype=torch.int32)
run_case(out, "attn_varlen", [leaf((1, 12, 2, 8), g), leaf((1, 12, 2, 8), g), leaf((1, 12, 2, 8), g)],
         lambda q, k, v: attention(q, k, v, causal=True, segments=segments), g)
keep = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.uint8)
out["attn_padding.keep"] = keep
run_case(out, "attn_padding", [leaf((2, 5, 2, 8), g), leaf((2, 5, 2, 8), g), leaf((2, 5, 2, 8), g)],
         lambda q, k, v: attention(q, k, v, keep=keep), g)


def key_bias(shape):
    """ln of token sizes 1..6 as ToMe's proportional attention adds them, plus noise so that no two keys
    share a value; f32, as kiln holds the bias."""
    sizes = torch.randint(1, 7, shape, generator=g).double()
    return (sizes.log() + 0.3 * torch.randn(*shape, generator=g, dtype=torch.float64)).float()


bias = key_bias((2, 9))
out["attn_key_bias.bias"] = bias
run_case(out, "attn_key_bias", [leaf((2, 6, 4, 8), g), leaf((2, 9, 2, 8), g), leaf((2, 9, 2, 8), g)],
         lambda q, k, v: attention(q, k, v, bias=bias), g)
bias_long = key_bias((1, 150))
out["attn_key_bias_long.bias"] = bias_long
run_case(out, "attn_key_bias_long",
         [leaf((1, 150, 4, 16), g), leaf((1, 150, 2, 16), g), leaf((1, 150, 2, 16), g)],
         lambda q, k, v: attention(q, k, v, causal=True, bias=bias_long), g)
bias_masked = key_bias((2, 5))
out["attn_key_bias_masked_f64.bias"] = bias_masked
run_case(out, "attn_key_bias_masked_f64",
         [leaf((2, 5, 2, 8), g, dtype=torch.float64), leaf((2, 5, 2, 8), g, dtype=torch.float64),
          leaf((2, 5, 2, 8), g, dtype=torch.float64)],
         lambda q, k, v: attention(q, k, v, causal=True, keep=keep, bias=bias_masked), g)
bias_packed = key_bias((1, 12))
out["attn_key_bias_varlen_f64.bias"] = bias_packed
out["attn_key_bias_varlen_f64.cu_seqlens"] = out["attn_varlen.cu_seqlens"]
run_case(out, "attn_key_bias_varlen_f64",
         [leaf((1, 12, 2, 8), g, dtype=torch.float64), leaf((1, 12, 2, 8), g, dtype=torch.float64),
          leaf((1, 12, 2, 8), g, dtype=torch.float64)],
         lambda q, k, v: attention(q, k, v, segments=segments, bias=bias_packed), g)
save("ops_nn", out, {"torch": torch.__version__, "script": "tests/reference/ops_nn.py"})
