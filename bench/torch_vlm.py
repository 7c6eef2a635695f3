"""The vision-language model of bench/vlm_layout_bench.cpp in PyTorch 1.13:
the same sizes (SPEC-VLM §7.2: ViT P 4, width 64, 4 blocks, 4 heads, MLP 128,
2-D RoPE; 2×2 merger 256 → 256 → 128; LLaMA decoder 128 wide, 4 layers,
4 heads, SwiGLU 352, M-RoPE [4, 6, 6], vocabulary 260) and the same packs of
OCR-shaped samples (workload() below is the C++ bench's formula). PyTorch
1.13 has no varlen attention, so attention runs per image and, in the rmpad
layout, per sample, as transformers' non-flash path does; the padded layout
is one batched attention over [samples, L_max] with a causal mask (right
padding: no real token sees a pad). The vision side is packed in both
layouts, as in Qwen2-VL. One AdamW step per pack. Prints one JSON line.
With --bf16 the forward runs under CPU autocast to bfloat16 (matrix products
in bf16, weights and optimizer f32), as kiln's train.precision = "bf16".

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch_vlm.py rmpad|padded|padded_all [steps] [--bf16]
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

bf16 = "--bf16" in sys.argv
args = [a for a in sys.argv[1:] if a != "--bf16"]
layout = args[0] if len(args) > 0 else "rmpad"
steps = int(args[1]) if len(args) > 1 else 6
torch.manual_seed(0)
P, M, DV, LV, HV, MLPV = 4, 2, 64, 4, 4, 128
D, L, H, FFN, V = 128, 4, 4, 352, 260
SECTION = [4, 6, 6]
EOS, VS, VE, PAD = 256, 257, 258, 259
PACKS, PER_PACK = 4, 10


def workload(pack):
    """(height px, width px, answer bytes) of the pack's samples."""
    out = []
    for s in range(PER_PACK):
        g = pack * PER_PACK + s
        h = 24 if g % 7 < 3 else 16
        w = 8 * (3 + (g * 37) % 54)
        n = 3 + (g * 11) % 46
        out.append((h, w, [97 + (g * 5 + j) % 26 for j in range(n)]))
    return out


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), -1)


def vision_angles(gh, gw):
    hpos = torch.arange(gh)[:, None].expand(gh, gw).reshape(gh // M, M, gw // M, M).permute(0, 2, 1, 3).flatten()
    wpos = torch.arange(gw)[None, :].expand(gh, gw).reshape(gh // M, M, gw // M, M).permute(0, 2, 1, 3).flatten()
    dim = DV // HV // 2
    inv = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    f = torch.cat([hpos.double()[:, None] * inv, wpos.double()[:, None] * inv], -1).repeat(1, 2)
    return f.cos().float()[:, None], f.sin().float()[:, None]


def text_angles(pos):
    d = D // H
    inv = 1.0 / (10000 ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    emb = pos.double()[..., None] * inv
    emb = torch.cat([emb, emb], -1)  # [3, ..., d]
    pick = lambda t: torch.cat([m[i % 3] for i, m in enumerate(t.split(SECTION * 2, -1))], -1)
    return pick(emb.cos()).float(), pick(emb.sin()).float()


class LayerNorm(nn.LayerNorm):
    """Computes in f32, as kiln's norms do: PyTorch 1.13's CPU autocast leaves
    layer_norm to its input's type and refuses a bf16 input with f32 weights."""

    def forward(self, x):
        return super().forward(x.float())


class VisionBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = LayerNorm(DV, eps=1e-6), LayerNorm(DV, eps=1e-6)
        self.qkv, self.proj = nn.Linear(DV, 3 * DV), nn.Linear(DV, DV)
        self.fc1, self.fc2 = nn.Linear(DV, MLPV), nn.Linear(MLPV, DV)

    def forward(self, x, cos, sin, segments, vmask=None):
        q, k, v = self.qkv(self.norm1(x)).view(-1, 3, HV, DV // HV).unbind(1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if vmask is not None:  # [images, n_max] real-patch mask: one batched attention
            i, n = vmask.shape
            qs, ks, vs = (t.view(i, n, HV, DV // HV).transpose(1, 2) for t in (q, k, v))
            bias = torch.zeros(i, 1, 1, n).masked_fill(~vmask[:, None, None, :], float("-inf"))
            a = torch.softmax(qs @ ks.transpose(-1, -2) / math.sqrt(DV // HV) + bias, -1) @ vs
            x = x + self.proj(a.transpose(1, 2).reshape(i * n, DV))
            return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))
        outs = []
        for s, e in segments:
            qs, ks, vs = (t[s:e].transpose(0, 1) for t in (q, k, v))
            a = torch.softmax(qs @ ks.transpose(-1, -2) / math.sqrt(DV // HV), -1) @ vs
            outs.append(a.transpose(0, 1).reshape(e - s, DV))
        x = x + self.proj(torch.cat(outs))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        x = x.float()
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


class TextBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(D), RMSNorm(D)
        self.q, self.k, self.v, self.o = (nn.Linear(D, D, bias=False) for _ in range(4))
        self.gate, self.up, self.down = nn.Linear(D, FFN, bias=False), nn.Linear(D, FFN, bias=False), nn.Linear(FFN, D, bias=False)

    def forward(self, x, cos, sin, segments):
        """x [B, T, D]; cos/sin [B, T, d]; segments: per row, (start, end) causal spans (None: the whole row)."""
        b, t, _ = x.shape
        y = self.n1(x)
        q, k, v = (f(y).view(b, t, H, D // H) for f in (self.q, self.k, self.v))
        c, s = cos[:, :, None], sin[:, :, None]
        q, k = q * c + rotate_half(q) * s, k * c + rotate_half(k) * s
        if segments is None:
            mask = torch.full((t, t), float("-inf")).triu(1)
            a = torch.softmax(torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(D // H) + mask, -1)
            out = torch.einsum("bhts,bshd->bthd", a, v).reshape(b, t, D)
        else:
            outs = []
            for st, en in segments:
                n = en - st
                mask = torch.full((n, n), float("-inf")).triu(1)
                qs, ks, vs = (z[0, st:en].transpose(0, 1) for z in (q, k, v))
                a = torch.softmax(qs @ ks.transpose(-1, -2) / math.sqrt(D // H) + mask, -1) @ vs
                outs.append(a.transpose(0, 1).reshape(n, D))
            out = torch.cat(outs)[None]
        x = x + self.o(out)
        y = self.n2(x)
        return x + self.down(F.silu(self.gate(y)) * self.up(y))


class Vlm(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Linear(P * P, DV, bias=False)
        self.vblocks = nn.ModuleList(VisionBlock() for _ in range(LV))
        self.ln_q = LayerNorm(DV, eps=1e-6)
        self.mlp0, self.mlp2 = nn.Linear(4 * DV, 4 * DV), nn.Linear(4 * DV, D)
        self.embed = nn.Embedding(V, D)
        self.tblocks = nn.ModuleList(TextBlock() for _ in range(L))
        self.norm = RMSNorm(D)
        self.head = nn.Linear(D, V, bias=False)

    def forward(self, batch):
        x = self.patch(batch["patches"])
        for blk in self.vblocks:
            x = blk(x, batch["vcos"], batch["vsin"], batch["vsegments"], batch.get("vmask"))
        if "vrows" in batch:
            x = x[batch["vrows"]]
        feats = self.mlp2(F.gelu(self.mlp0(self.ln_q(x).reshape(-1, 4 * DV))))
        ids = batch["tokens"]
        e = self.embed(ids)
        e = e.masked_scatter((ids == PAD)[..., None].expand_as(e), feats.to(e.dtype))
        for blk in self.tblocks:
            e = blk(e, batch["tcos"], batch["tsin"], batch["tsegments"])
        logits = self.head(self.norm(e))
        return F.cross_entropy(logits.reshape(-1, V), batch["targets"].reshape(-1), ignore_index=-100, reduction="sum") / batch["count"]


def make_batch(pack):
    samples = workload(pack)
    patches, vc, vs, vseg, at = [], [], [], [], 0
    rows = []
    for h, w, answer in samples:
        gh, gw = h // P, w // P
        patches.append(torch.randn(gh * gw, P * P))
        c, s = vision_angles(gh, gw)
        vc.append(c); vs.append(s)
        vseg.append((at, at + gh * gw)); at += gh * gw
        toks = [VS] + [PAD] * (gh * gw // 4) + [VE] + answer + [EOS]
        t = list(range(len(toks)))
        hh, ww = list(t), list(t)
        base = 1
        for k in range(gh * gw // 4):
            y, xx = divmod(k, gw // 2)
            t[1 + k], hh[1 + k], ww[1 + k] = base, base + y, base + xx
        nxt = max(t[:1 + gh * gw // 4] + hh[:1 + gh * gw // 4] + ww[:1 + gh * gw // 4]) + 1
        for i in range(1 + gh * gw // 4, len(toks)):
            t[i] = hh[i] = ww[i] = nxt + i - (1 + gh * gw // 4)
        labels = [-100] * (gh * gw // 4 + 2) + answer + [EOS]
        rows.append((toks, labels[1:] + [-100], [t, hh, ww]))
    batch = {"patches": torch.cat(patches), "vcos": torch.cat(vc), "vsin": torch.cat(vs), "vsegments": vseg}
    if layout == "padded_all":
        nmax = max(p.shape[0] for p in patches)
        pad = lambda t, fill: torch.cat([t, fill.expand(nmax - t.shape[0], *t.shape[1:])])
        batch["patches"] = torch.cat([pad(p, torch.zeros(1, P * P)) for p in patches])
        batch["vcos"] = torch.cat([pad(c, torch.ones(1, 1, c.shape[-1])) for c in vc])
        batch["vsin"] = torch.cat([pad(c, torch.zeros(1, 1, c.shape[-1])) for c in vs])
        batch["vmask"] = torch.tensor([[j < p.shape[0] for j in range(nmax)] for p in patches])
        batch["vrows"] = batch["vmask"].flatten().nonzero().flatten()
    count = sum(sum(1 for l in r[1] if l != -100) for r in rows)
    if layout == "rmpad":
        toks = torch.tensor([sum((r[0] for r in rows), [])])
        targets = torch.tensor([sum((r[1] for r in rows), [])])
        pos = torch.tensor([sum((r[2][a] for r in rows), []) for a in range(3)])[:, None]
        segs, at = [], 0
        for r in rows:
            segs.append((at, at + len(r[0]))); at += len(r[0])
    else:
        lmax = max(len(r[0]) for r in rows)
        toks = torch.tensor([r[0] + [EOS] * (lmax - len(r[0])) for r in rows])
        targets = torch.tensor([r[1] + [-100] * (lmax - len(r[1])) for r in rows])
        pos = torch.tensor([[r[2][a] + [1] * (lmax - len(r[0])) for r in rows] for a in range(3)])
        segs = None
    cos, sin = text_angles(pos)
    batch.update(tokens=toks, targets=targets, tcos=cos, tsin=sin, tsegments=segs, count=count,
                 real=sum(len(r[0]) for r in rows), slots=toks.numel(),
                 vreal=sum(p.shape[0] for p in patches), vslots=batch["patches"].shape[0])
    return batch


model = Vlm()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
batches = [make_batch(p) for p in range(PACKS)]
times = []
for i in range(steps + 1):
    b = batches[i % PACKS]
    t0 = time.perf_counter()
    opt.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(b)
    loss.backward()
    opt.step()
    if i > 0:
        times.append(time.perf_counter() - t0)
times.sort()
med = times[len(times) // 2]
real = sum(b["real"] for b in batches) / PACKS
slots = sum(b["slots"] for b in batches) / PACKS
print(json.dumps({"model": "vlm", "layout": layout, "precision": "bf16" if bf16 else "f32", "step_ms": round(med * 1e3, 1),
                  "llm_tokens_per_s": round(real / med), "padding": round(1 - real / slots, 3),
                  "vision_padding": round(1 - sum(b["vreal"] for b in batches) / sum(b["vslots"] for b in batches), 3)}))
