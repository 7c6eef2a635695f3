"""Golden data for kiln's native-resolution vision encoder (SPEC-VLM §5.1,
§9 "vision block"), written out in PyTorch 1.13 after transformers'
modeling_qwen2_vl.py, in f64:
  - PatchEmbed: a bias-free conv over patches viewed [-1, C, P, P] (Qwen's
    Conv3d with a temporal kernel of 1);
  - VisionRotaryEmbedding(head_dim / 2), rot_pos_emb (merge-order hpos/wpos)
    and apply_rotary_pos_emb_vision (rotate_half on cat(freqs, freqs));
  - Qwen2VLVisionBlock: x + attn(norm1(x)), x + mlp(norm2(x)), LayerNorm eps
    1e-6, fused qkv reshaped [N, 3, heads, dh], attention split per image by
    cu_seqlens (HF's non-flash path), fc1 → act → fc2;
  - no final norm.
Three images with grids 2×4, 4×6 and 6×2 (merge size 2) in one pack.
  encoder.*     output [44, 16] for a random upstream gradient, and the
                gradient of every parameter and of the patches (erf GELU);
  quick.*       the same with quick_gelu (x·σ(1.702x)), one block;
  classifier.*  kiln's NaViT head (its parameters stored) on the first encoder: per-image mean of
                the tokens, LayerNorm, linear; summed cross-entropy over the
                3 images and every gradient.
"""
import math

import torch
import torch.nn.functional as F

from golden import save

torch.manual_seed(0)
g = torch.Generator().manual_seed(11)
f64 = torch.float64
C, P, D, H, MLP, M, THETA, EPS, K = 2, 2, 16, 2, 24, 2, 10000.0, 1e-6, 3
DH = D // H
GRIDS = [(2, 4), (4, 6), (6, 2)]
out = {}


def rand(*shape, scale=0.3):
    return (torch.randn(*shape, generator=g, dtype=f64) * scale).requires_grad_(True)


def ones_ish(n):
    return (1 + 0.1 * torch.randn(n, generator=g, dtype=f64)).requires_grad_(True)


def make_params(layers):
    p = {"visual.patch_embed.proj.weight": rand(D, C, P, P)}
    for i in range(layers):
        b = f"visual.blocks.{i}."
        p[b + "norm1.weight"], p[b + "norm1.bias"] = ones_ish(D), rand(D, scale=0.1)
        p[b + "attn.qkv.weight"], p[b + "attn.qkv.bias"] = rand(3 * D, D), rand(3 * D, scale=0.1)
        p[b + "attn.proj.weight"], p[b + "attn.proj.bias"] = rand(D, D), rand(D, scale=0.1)
        p[b + "norm2.weight"], p[b + "norm2.bias"] = ones_ish(D), rand(D, scale=0.1)
        p[b + "mlp.fc1.weight"], p[b + "mlp.fc1.bias"] = rand(MLP, D), rand(MLP, scale=0.1)
        p[b + "mlp.fc2.weight"], p[b + "mlp.fc2.bias"] = rand(D, MLP), rand(D, scale=0.1)
    return p


def rot_pos_emb():
    pos_ids = []
    for h, w in GRIDS:
        hpos = torch.arange(h)[:, None].expand(-1, w).reshape(h // M, M, w // M, M).permute(0, 2, 1, 3).flatten()
        wpos = torch.arange(w)[None, :].expand(h, -1).reshape(h // M, M, w // M, M).permute(0, 2, 1, 3).flatten()
        pos_ids.append(torch.stack([hpos, wpos], -1))
    pos_ids = torch.cat(pos_ids)
    dim = DH // 2  # VisionRotaryEmbedding(head_dim // 2)
    inv_freq = 1.0 / (THETA ** (torch.arange(0, dim, 2, dtype=f64) / dim))
    max_grid = max(max(h, w) for h, w in GRIDS)
    full = torch.outer(torch.arange(max_grid, dtype=f64), inv_freq)
    return pos_ids, full[pos_ids].flatten(1)  # [N, dh/2]: row frequencies, then column frequencies


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb_vision(t, freqs):
    emb = torch.cat((freqs, freqs), -1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    return t * cos + rotate_half(t) * sin


def attention(x, p, b, cu, freqs):
    n = x.shape[0]
    q, k, v = (x @ p[b + "attn.qkv.weight"].T + p[b + "attn.qkv.bias"]).reshape(n, 3, H, DH).permute(1, 0, 2, 3).unbind(0)
    q, k = apply_rotary_pos_emb_vision(q, freqs), apply_rotary_pos_emb_vision(k, freqs)
    lengths = (cu[1:] - cu[:-1]).tolist()
    outs = []
    for qi, ki, vi in zip(q.split(lengths), k.split(lengths), v.split(lengths)):
        qi, ki, vi = qi.transpose(0, 1), ki.transpose(0, 1), vi.transpose(0, 1)  # [H, n_i, dh]
        w = torch.softmax(qi @ ki.transpose(1, 2) / math.sqrt(DH), -1)
        outs.append((w @ vi).transpose(0, 1).reshape(-1, D))
    return torch.cat(outs) @ p[b + "attn.proj.weight"].T + p[b + "attn.proj.bias"]


def encoder(patches, p, layers, act):
    cu = torch.tensor([0] + [h * w for h, w in GRIDS]).cumsum(0)
    _, freqs = rot_pos_emb()
    x = F.conv2d(patches.view(-1, C, P, P), p["visual.patch_embed.proj.weight"]).view(-1, D)
    for i in range(layers):
        b = f"visual.blocks.{i}."
        x = x + attention(F.layer_norm(x, (D,), p[b + "norm1.weight"], p[b + "norm1.bias"], EPS), p, b, cu, freqs)
        h = F.layer_norm(x, (D,), p[b + "norm2.weight"], p[b + "norm2.bias"], EPS)
        x = x + act(h @ p[b + "mlp.fc1.weight"].T + p[b + "mlp.fc1.bias"]) @ p[b + "mlp.fc2.weight"].T + p[b + "mlp.fc2.bias"]
    return x, cu


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


N = sum(h * w for h, w in GRIDS)
pos_ids, _ = rot_pos_emb()
out["positions"] = pos_ids.t().contiguous()
out["cu_v"] = torch.tensor([0] + [h * w for h, w in GRIDS]).cumsum(0).to(torch.int32)


def run(prefix, layers, act):
    p = make_params(layers)
    patches = rand(N, C * P * P, scale=1.0)
    y, _ = encoder(patches, p, layers, act)
    dout = torch.randn(y.shape, generator=g, dtype=f64)
    y.backward(dout)
    out[prefix + ".patches"], out[prefix + ".out"], out[prefix + ".dout"] = patches, y, dout
    out[prefix + ".grad.patches"] = patches.grad
    for name, t in p.items():
        out[prefix + ".param." + name] = t
        out[prefix + ".grad." + name] = t.grad
    return p, patches


p, patches = run("encoder", 2, F.gelu)
run("quick", 1, quick_gelu)

# The classifier head on the first encoder.
for t in list(p.values()) + [patches]:
    t.grad = None
head = {"classifier.norm.weight": ones_ish(D), "classifier.norm.bias": rand(D, scale=0.1),
        "classifier.weight": rand(K, D), "classifier.bias": rand(K, scale=0.1)}
labels = torch.tensor([2, 0, 1])
x, cu = encoder(patches, p, 2, F.gelu)
pooled = torch.stack([x[cu[i]:cu[i + 1]].mean(0) for i in range(len(GRIDS))])
z = F.layer_norm(pooled, (D,), head["classifier.norm.weight"], head["classifier.norm.bias"], EPS)
logits = z @ head["classifier.weight"].T + head["classifier.bias"]
loss = F.cross_entropy(logits, labels, reduction="sum")
loss.backward()
out["classifier.labels"], out["classifier.logits"], out["classifier.loss"] = labels, logits, loss
for name, t in head.items():
    out["classifier.param." + name] = t
for name, t in list(p.items()) + list(head.items()):
    out["classifier.grad." + name] = t.grad

save("navit", out, {"torch": torch.__version__, "script": "tests/reference/navit.py"})
