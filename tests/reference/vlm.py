"""Golden data for the vision-language model (SPEC-VLM §5, §6, §9).

A tiny Qwen2-VL-shaped model written out by hand in PyTorch 1.13 (no SDPA:
attention is softmax(QKᵀ·scale + mask)·V), in f64:
  vision: merge-ordered patches (P = 4, one channel) → Linear (no bias) →
          2 pre-LN blocks (LN eps 1e-6, fused qkv with bias, Qwen2-VL 2-D
          RoPE on q and k, attention inside each image, proj, fc1 → erf GELU
          → fc2), no final norm;
  merger: LayerNorm → 2×2 blocks concatenated → Linear → GELU → Linear;
  text:   byte ids + 4 special tokens, image features scattered into the
          <|image_pad|> rows (masked_scatter), 2 LLaMA blocks with M-RoPE
          [2, 3, 3] (half-split pairs), causal attention inside each sample,
          RMSNorm, SwiGLU, untied lm_head;
  loss:   summed cross-entropy over answer targets (shifted inside each
          sample) / their count.
Three samples with four images of different sizes, as one packed row. Saved:
  param.<name>   the weights, kiln's [out, in] layout and Qwen2-VL's names
  image<i>       each image's merge-ordered patches [n_i, 16]
  loss, logits   logits at every real position [N_t, 260]
  grad.<name>    d loss / d parameter
"""
import math

import torch
import torch.nn.functional as F

from golden import save

torch.set_default_dtype(torch.float64)
torch.manual_seed(0)

P, M, C = 4, 2, 1
DV, LV, HV, MLPV = 16, 2, 2, 32
D, L, H, FFN, V = 32, 2, 2, 64, 260
SECTION = [2, 3, 3]
EOS, VS, VE, PAD = 256, 257, 258, 259

# (height px, width px) per image, per sample; answers and prompts.
SAMPLES = [([(8, 16)], "", "coat"),
           ([(16, 16), (8, 8)], "", "bag, sandal"),
           ([(16, 8)], "? ", "trouser")]


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), -1)


def merge_positions(gh, gw):
    hpos = torch.arange(gh)[:, None].expand(gh, gw).reshape(gh // M, M, gw // M, M).permute(0, 2, 1, 3).flatten()
    wpos = torch.arange(gw)[None, :].expand(gh, gw).reshape(gh // M, M, gw // M, M).permute(0, 2, 1, 3).flatten()
    return hpos, wpos


def vision_rope(x, hpos, wpos, theta=10000.0):
    dim = x.shape[-1] // 2
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = torch.cat([hpos.double()[:, None] * inv, wpos.double()[:, None] * inv], -1)
    cos, sin = freqs.cos().repeat(1, 2)[:, None], freqs.sin().repeat(1, 2)[:, None]
    return x * cos + rotate_half(x) * sin


def mrope(x, pos, theta=10000.0):
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    freqs = pos.double()[..., None] * inv  # [3, T, d/2]
    emb = torch.cat([freqs, freqs], -1)
    cos = torch.cat([m[i % 3] for i, m in enumerate(emb.cos().split(SECTION * 2, -1))], -1)
    sin = torch.cat([m[i % 3] for i, m in enumerate(emb.sin().split(SECTION * 2, -1))], -1)
    return x * cos[:, None] + rotate_half(x) * sin[:, None]


def attend(q, k, v, segments, causal):
    """q/k/v [T, H, d]; attention only inside each (start, end) segment."""
    T = q.shape[0]
    mask = torch.full((T, T), float("-inf"))
    for s, e in segments:
        for i in range(s, e):
            mask[i, s:(i + 1 if causal else e)] = 0
    scores = torch.einsum("thd,shd->hts", q, k) / math.sqrt(q.shape[-1]) + mask
    return torch.einsum("hts,shd->thd", torch.softmax(scores, -1), v)


def rms_norm(x, w, eps=1e-6):
    return w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def get_rope_index(tokens, grids):
    """Qwen2-VL's get_rope_index for still images (llm grids (H, W))."""
    t, h, w = [], [], []
    nxt, st = 0, 0
    for gh, gw in grids:
        ed = tokens.index(PAD, st)
        for i in range(ed - st):
            t.append(nxt + i); h.append(nxt + i); w.append(nxt + i)
        base = nxt + (ed - st)
        for y in range(gh):
            for x in range(gw):
                t.append(base); h.append(base + y); w.append(base + x)
        nxt = max(t + h + w) + 1
        st = ed + gh * gw
    for i in range(len(tokens) - st):
        t.append(nxt + i); h.append(nxt + i); w.append(nxt + i)
    return t, h, w


params = {}


def param(name, shape, std=0.2, zero=False, one=False):
    if one:
        value = torch.ones(shape) + 0.1 * torch.randn(shape)
    elif zero:
        value = 0.1 * torch.randn(shape)
    else:
        value = std * torch.randn(shape)
    params[name] = value.requires_grad_(True)
    return params[name]


param("visual.patch_embed.proj.weight", (DV, C, P, P))
for i in range(LV):
    b = f"visual.blocks.{i}."
    param(b + "norm1.weight", (DV,), one=True); param(b + "norm1.bias", (DV,), zero=True)
    param(b + "attn.qkv.weight", (3 * DV, DV)); param(b + "attn.qkv.bias", (3 * DV,), zero=True)
    param(b + "attn.proj.weight", (DV, DV)); param(b + "attn.proj.bias", (DV,), zero=True)
    param(b + "norm2.weight", (DV,), one=True); param(b + "norm2.bias", (DV,), zero=True)
    param(b + "mlp.fc1.weight", (MLPV, DV)); param(b + "mlp.fc1.bias", (MLPV,), zero=True)
    param(b + "mlp.fc2.weight", (DV, MLPV)); param(b + "mlp.fc2.bias", (DV,), zero=True)
G = M * M * DV
param("visual.merger.ln_q.weight", (DV,), one=True); param("visual.merger.ln_q.bias", (DV,), zero=True)
param("visual.merger.mlp.0.weight", (G, G), std=0.1); param("visual.merger.mlp.0.bias", (G,), zero=True)
param("visual.merger.mlp.2.weight", (D, G), std=0.1); param("visual.merger.mlp.2.bias", (D,), zero=True)
param("model.embed_tokens.weight", (V, D))
for i in range(L):
    b = f"model.layers.{i}."
    param(b + "input_layernorm.weight", (D,), one=True)
    for n in "qkvo":
        param(b + f"self_attn.{n}_proj.weight", (D, D))
    param(b + "post_attention_layernorm.weight", (D,), one=True)
    param(b + "mlp.gate_proj.weight", (FFN, D)); param(b + "mlp.up_proj.weight", (FFN, D))
    param(b + "mlp.down_proj.weight", (D, FFN))
param("model.norm.weight", (D,), one=True)
param("lm_head.weight", (V, D))

# Inputs: images as merge-ordered patches, token rows, targets, M-RoPE ids.
images, grids_px = [], []
tokens, labels, pos_t, pos_h, pos_w, text_segments = [], [], [], [], [], []
out = {}
for s, (sizes, prompt, answer) in enumerate(SAMPLES):
    start = len(tokens)
    sample_tokens, sample_labels, llm_grids = [], [], []
    for (hp, wp) in sizes:
        gh, gw = hp // P, wp // P
        pixels = torch.rand(C, hp, wp)
        # patches (c, i, j) in row-major grid order, then merge order
        rows = pixels.reshape(C, gh, P, gw, P).permute(1, 3, 0, 2, 4).reshape(gh, gw, C * P * P)
        merged = rows.reshape(gh // M, M, gw // M, M, -1).permute(0, 2, 1, 3, 4).reshape(gh * gw, -1)
        out[f"image{len(images)}"] = merged
        images.append((merged, gh, gw))
        llm_grids.append((gh // M, gw // M))
        sample_tokens += [VS] + [PAD] * (gh * gw // (M * M)) + [VE]
        sample_labels += [-100] * (gh * gw // (M * M) + 2)
    for c in prompt.encode():
        sample_tokens.append(c); sample_labels.append(-100)
    for c in answer.encode():
        sample_tokens.append(c); sample_labels.append(c)
    sample_tokens.append(EOS); sample_labels.append(EOS)
    t, h, w = get_rope_index(sample_tokens, llm_grids)
    tokens += sample_tokens; pos_t += t; pos_h += h; pos_w += w
    shifted = sample_labels[1:] + [-100]
    labels += shifted
    text_segments.append((start, len(tokens)))

# Vision tower on the packed images.
patches = torch.cat([m for m, _, _ in images])
hpos = torch.cat([merge_positions(gh, gw)[0] for _, gh, gw in images])
wpos = torch.cat([merge_positions(gh, gw)[1] for _, gh, gw in images])
segments, at = [], 0
for m, _, _ in images:
    segments.append((at, at + m.shape[0])); at += m.shape[0]
x = patches @ params["visual.patch_embed.proj.weight"].reshape(DV, -1).T
for i in range(LV):
    b = f"visual.blocks.{i}."
    hdn = F.layer_norm(x, (DV,), params[b + "norm1.weight"], params[b + "norm1.bias"], 1e-6)
    qkv = (hdn @ params[b + "attn.qkv.weight"].T + params[b + "attn.qkv.bias"]).reshape(-1, 3, HV, DV // HV)
    q, k, v = qkv.unbind(1)
    q, k = vision_rope(q, hpos, wpos), vision_rope(k, hpos, wpos)
    a = attend(q, k, v, segments, causal=False).reshape(-1, DV)
    x = x + a @ params[b + "attn.proj.weight"].T + params[b + "attn.proj.bias"]
    hdn = F.layer_norm(x, (DV,), params[b + "norm2.weight"], params[b + "norm2.bias"], 1e-6)
    f = F.gelu(hdn @ params[b + "mlp.fc1.weight"].T + params[b + "mlp.fc1.bias"])
    x = x + f @ params[b + "mlp.fc2.weight"].T + params[b + "mlp.fc2.bias"]
u = F.layer_norm(x, (DV,), params["visual.merger.ln_q.weight"], params["visual.merger.ln_q.bias"], 1e-6)
g = u.reshape(-1, G)
features = F.gelu(g @ params["visual.merger.mlp.0.weight"].T + params["visual.merger.mlp.0.bias"])
features = features @ params["visual.merger.mlp.2.weight"].T + params["visual.merger.mlp.2.bias"]

# Text: embeddings with the features scattered into the placeholders.
ids = torch.tensor(tokens)
embeds = params["model.embed_tokens.weight"][ids]
mask = (ids == PAD)[:, None].expand(-1, D)
embeds = embeds.masked_scatter(mask, features)
pos = torch.tensor([pos_t, pos_h, pos_w])
hx = embeds
hd = D // H
for i in range(L):
    b = f"model.layers.{i}."
    hdn = rms_norm(hx, params[b + "input_layernorm.weight"])
    q = (hdn @ params[b + "self_attn.q_proj.weight"].T).reshape(-1, H, hd)
    k = (hdn @ params[b + "self_attn.k_proj.weight"].T).reshape(-1, H, hd)
    v = (hdn @ params[b + "self_attn.v_proj.weight"].T).reshape(-1, H, hd)
    q, k = mrope(q, pos), mrope(k, pos)
    a = attend(q, k, v, text_segments, causal=True).reshape(-1, D)
    hx = hx + a @ params[b + "self_attn.o_proj.weight"].T
    hdn = rms_norm(hx, params[b + "post_attention_layernorm.weight"])
    f = F.silu(hdn @ params[b + "mlp.gate_proj.weight"].T) * (hdn @ params[b + "mlp.up_proj.weight"].T)
    hx = hx + f @ params[b + "mlp.down_proj.weight"].T
logits = rms_norm(hx, params["model.norm.weight"]) @ params["lm_head.weight"].T
targets = torch.tensor(labels)
loss = F.cross_entropy(logits, targets, ignore_index=-100, reduction="sum") / (targets != -100).sum()
loss.backward()

for name, value in params.items():
    out["param." + name] = value
    out["grad." + name] = value.grad
out["logits"] = logits
out["loss"] = loss
out["tokens"] = ids
out["targets"] = targets
out["positions"] = pos
save("vlm", out, {"torch": torch.__version__, "script": "tests/reference/vlm.py"})
