"""The decoder LMs of bench/lm_train_bench.cpp in PyTorch 1.13: the same
architecture, batch and AdamW step (forward, backward, clipping, update).
Prints one JSON line: median step time, tokens/s, peak RSS.

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch_lm.py kjv|gpt2 [steps] [--bf16]
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

which = sys.argv[1] if len(sys.argv) > 1 else "kjv"
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
bf16 = "--bf16" in sys.argv
torch.manual_seed(0)


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


def rope(x, cos, sin):  # interleaved pairs, as kiln's default
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2)


def causal_attention(q, k, v):  # [B, H, T, D]; PyTorch 1.13 has no fused attention
    t = q.shape[-2]
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(s, -1) @ v


class Block(nn.Module):
    def __init__(self, d, h, f, gpt2):
        super().__init__()
        self.h, self.gpt2 = h, gpt2
        self.n1 = nn.LayerNorm(d) if gpt2 else RMSNorm(d)
        self.n2 = nn.LayerNorm(d) if gpt2 else RMSNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=gpt2)
        self.o = nn.Linear(d, d, bias=gpt2)
        if gpt2:
            self.fc, self.proj = nn.Linear(d, f), nn.Linear(f, d)
        else:
            self.gate, self.up, self.down = nn.Linear(d, f, bias=False), nn.Linear(d, f, bias=False), nn.Linear(f, d, bias=False)

    def forward(self, x, cos, sin):
        b, t, d = x.shape
        q, k, v = self.qkv(self.n1(x)).split(d, -1)
        q, k, v = (z.view(b, t, self.h, d // self.h) for z in (q, k, v))
        if not self.gpt2:
            q, k = rope(q, cos, sin), rope(k, cos, sin)
        a = causal_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2).reshape(b, t, d)
        x = x + self.o(a)
        h = self.n2(x)
        if self.gpt2:
            return x + self.proj(F.gelu(self.fc(h), approximate="tanh"))
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(nn.Module):
    def __init__(self, v, d, layers, h, f, t, gpt2):
        super().__init__()
        self.gpt2 = gpt2
        self.emb = nn.Embedding(v, d)
        self.pos = nn.Embedding(t, d) if gpt2 else None
        self.blocks = nn.ModuleList(Block(d, h, f, gpt2) for _ in range(layers))
        self.norm = nn.LayerNorm(d) if gpt2 else RMSNorm(d)
        self.head = None if gpt2 else nn.Linear(d, v, bias=False)
        dh = d // h
        ang = torch.arange(t)[:, None].double() * (10000.0 ** (-torch.arange(0, dh, 2).double() / dh))
        self.cos, self.sin = ang.cos().float()[:, None, :], ang.sin().float()[:, None, :]

    def forward(self, tokens, targets):
        t = tokens.shape[1]
        x = self.emb(tokens)
        if self.gpt2:
            x = x + self.pos(torch.arange(t))
        for blk in self.blocks:
            x = blk(x, self.cos[:t], self.sin[:t])
        x = self.norm(x)
        logits = x @ self.emb.weight.t() if self.gpt2 else self.head(x)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


if which == "gpt2":
    model, batch, context = Model(50257, 768, 12, 12, 3072, 1024, True), 4, 256
else:
    model, batch, context = Model(4096, 256, 6, 4, 768, 128, False), 16, 128
opt = torch.optim.AdamW(model.parameters())
tokens = torch.randint(0, model.emb.num_embeddings, (batch, context))
targets = torch.randint(0, model.emb.num_embeddings, (batch, context))


def step():
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(tokens, targets)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


step()
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
times.sort()
median = times[len(times) // 2]
print(json.dumps({"model": which, "params": sum(p.numel() for p in model.parameters()), "batch": batch,
                  "context": context, "step_ms": round(median * 1e3, 1), "tokens_per_s": round(batch * context / median),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
