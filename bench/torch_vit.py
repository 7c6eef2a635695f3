"""The Fashion-MNIST ViT and MAE of bench/vit_train_bench.cpp in PyTorch 1.13
(standard modules: Conv2d patch embedding, nn.MultiheadAttention-free
hand-written attention as PyTorch 1.13 has no fused kernel, LayerNorm,
GELU), same batch, AdamW step included. Prints one JSON line.

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch_vit.py vit|mae [steps]
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

which = sys.argv[1] if len(sys.argv) > 1 else "vit"
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
torch.manual_seed(0)
B, D, L, H, M, P, N = 128, 64, 6, 4, 128, 4, 49


class Block(nn.Module):
    def __init__(self, d, h, m):
        super().__init__()
        self.h = h
        self.n1, self.n2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, m), nn.Linear(m, d)

    def forward(self, x):
        b, t, d = x.shape
        y = self.n1(x)
        q, k, v = (f(y).view(b, t, self.h, d // self.h).transpose(1, 2) for f in (self.q, self.k, self.v))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.h), -1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.n2(x))))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(1, D, P, stride=P)
        self.cls = nn.Parameter(torch.zeros(1, 1, D))
        self.pos = nn.Parameter(0.02 * torch.randn(1, N + 1, D))
        self.blocks = nn.ModuleList(Block(D, H, M) for _ in range(L))
        self.norm = nn.LayerNorm(D, eps=1e-6)

    def tokens(self, images):
        return self.patch(images).flatten(2).transpose(1, 2) + self.pos[:, 1:]

    def encode(self, tokens):
        x = torch.cat([(self.cls + self.pos[:, :1]).expand(tokens.shape[0], -1, -1), tokens], 1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


images = torch.randn(B, 1, 28, 28)
labels = torch.arange(B) % 10
encoder = Encoder()
if which == "vit":
    head = nn.Linear(D, 10)
    params = list(encoder.parameters()) + list(head.parameters())

    def loss_fn(step):
        return F.cross_entropy(head(encoder.encode(encoder.tokens(images))[:, 0]), labels)
else:
    DD = 64
    embed, pred = nn.Linear(D, DD), nn.Linear(DD, P * P)
    mask_token = nn.Parameter(torch.zeros(1, 1, DD))
    dec_pos = 0.02 * torch.randn(1, N + 1, DD)
    dec_blocks = nn.ModuleList(Block(DD, 4, 128) for _ in range(2))
    dec_norm = nn.LayerNorm(DD, eps=1e-6)
    params = (list(encoder.parameters()) + list(embed.parameters()) + list(pred.parameters()) + [mask_token] +
              list(dec_blocks.parameters()) + list(dec_norm.parameters()))
    keep = int(N * 0.25)

    def loss_fn(step):
        x = encoder.tokens(images)
        noise = torch.rand(B, N)
        ids_shuffle = noise.argsort(1)
        ids_restore = ids_shuffle.argsort(1)
        vis = torch.gather(x, 1, ids_shuffle[:, :keep, None].expand(-1, -1, D))
        y = embed(encoder.encode(vis))
        t = torch.cat([y[:, 1:], mask_token.expand(B, N - keep, -1)], 1)
        t = torch.gather(t, 1, ids_restore[..., None].expand(-1, -1, DD))
        z = torch.cat([y[:, :1], t], 1) + dec_pos
        for blk in dec_blocks:
            z = blk(z)
        out = pred(dec_norm(z))[:, 1:]
        target = images.reshape(B, 1, 7, 4, 7, 4).permute(0, 2, 4, 3, 5, 1).reshape(B, N, 16)
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6) ** 0.5
        mask = torch.ones(B, N)
        mask[:, :keep] = 0
        mask = torch.gather(mask, 1, ids_restore)
        return ((((out - target) ** 2).mean(-1)) * mask).sum() / mask.sum()

opt = torch.optim.AdamW(params, lr=1e-3)


def step(i):
    opt.zero_grad()
    loss_fn(i).backward()
    opt.step()


step(0)
times = []
for i in range(steps):
    t0 = time.perf_counter()
    step(i + 1)
    times.append(time.perf_counter() - t0)
times.sort()
median = times[len(times) // 2]
print(json.dumps({"model": which, "impl": "torch", "step_ms": round(median * 1e3, 1), "images_per_s": round(B / median)}))
