"""Golden data for the RoPE slot table: Qwen2-VL's 2-D vision RoPE and M-RoPE
(sectioned as Qwen2-VL, interleaved as Qwen3-VL), ported from transformers'
modeling_qwen2_vl.py (VisionRotaryEmbedding, rot_pos_emb,
apply_rotary_pos_emb_vision, Qwen2VLRotaryEmbedding,
apply_multimodal_rotary_pos_emb) and modeling_qwen3_vl.py
(apply_interleaved_mrope). Cases run in f64; inputs are [T, H, D]."""
import torch

from golden import leaf, run_case, save

torch.set_default_dtype(torch.float64)
g = torch.Generator().manual_seed(7)
out = {}


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def vision_positions(gh, gw, merge=2):
    # rot_pos_emb: (row, col) of every patch, in merge-block order.
    hpos = torch.arange(gh).unsqueeze(1).expand(-1, gw)
    hpos = hpos.reshape(gh // merge, merge, gw // merge, merge).permute(0, 2, 1, 3).flatten()
    wpos = torch.arange(gw).unsqueeze(0).expand(gh, -1)
    wpos = wpos.reshape(gh // merge, merge, gw // merge, merge).permute(0, 2, 1, 3).flatten()
    return torch.stack([hpos, wpos], dim=0)  # [2, N]


def vision_rope(x, pos, theta=10000.0):
    # VisionRotaryEmbedding(head_dim / 2): a table per axis, concatenated (row, col).
    dim = x.shape[-1] // 2
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = torch.cat([pos[0].double()[:, None] * inv_freq, pos[1].double()[:, None] * inv_freq], dim=-1)
    cos = freqs.cos().repeat(1, 2)[:, None, :]  # cat(freqs, freqs): rotate_half pairing
    sin = freqs.sin().repeat(1, 2)[:, None, :]
    return x * cos + rotate_half(x) * sin


def mrope_freqs(pos, head_dim, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    return pos.double()[..., None] * inv_freq  # [3, T, D/2]


def mrope(x, pos, section, theta=10000.0):
    # apply_multimodal_rotary_pos_emb: chunk i of cos/sin taken from component i mod 3.
    freqs = mrope_freqs(pos, x.shape[-1], theta)
    emb = torch.cat([freqs, freqs], dim=-1)  # [3, T, D]
    cos = torch.cat([m[i % 3] for i, m in enumerate(emb.cos().split(section * 2, dim=-1))], dim=-1)
    sin = torch.cat([m[i % 3] for i, m in enumerate(emb.sin().split(section * 2, dim=-1))], dim=-1)
    return x * cos[:, None, :] + rotate_half(x) * sin[:, None, :]


def mrope_interleaved(x, pos, section, theta=10000.0):
    # apply_interleaved_mrope: t everywhere, then h at slots 1, 4, ... < 3·s_h and w at 2, 5, ... < 3·s_w.
    freqs = mrope_freqs(pos, x.shape[-1], theta)
    merged = freqs[0].clone()
    for axis, offset in ((1, 1), (2, 2)):
        idx = slice(offset, section[axis] * 3, 3)
        merged[..., idx] = freqs[axis, ..., idx]
    emb = torch.cat([merged, merged], dim=-1)
    return x * emb.cos()[:, None, :] + rotate_half(x) * emb.sin()[:, None, :]


for gh, gw in ((2, 4), (6, 10)):
    name = f"vision_{gh}x{gw}"
    pos = vision_positions(gh, gw)
    run_case(out, name, [leaf((gh * gw, 3, 16), g, dtype=torch.float64)], lambda x: vision_rope(x, pos), g)
    out[name + ".pos"] = pos

# M-RoPE on random (t, h, w) ids, head_dim 32, as kiln's tiny decoders use it.
pos = torch.randint(0, 40, (3, 12), generator=g)
run_case(out, "mrope", [leaf((12, 2, 32), g, dtype=torch.float64)], lambda x: mrope(x, pos, [4, 6, 6]), g)
out["mrope.pos"] = pos
run_case(out, "mrope_interleaved", [leaf((12, 2, 32), g, dtype=torch.float64)],
         lambda x: mrope_interleaved(x, pos, [6, 5, 5]), g)
out["mrope_interleaved.pos"] = pos

save("rope_slots", out, {"torch": torch.__version__, "script": "tests/reference/rope_slots.py"})
