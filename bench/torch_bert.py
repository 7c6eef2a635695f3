"""The BERT of bench/bert_train_bench.cpp in PyTorch 1.13: post-LN encoder
(hand-written attention: PyTorch 1.13 has no fused kernel on the CPU), MLM
head on the masked positions only with the decoder tied to the word
embeddings, no dropout; AdamW step included. Prints one JSON line.

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch_bert.py [steps]
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
torch.manual_seed(0)
V, H, L, A, FF, B, T = 4000, 128, 4, 4, 512, 64, 64


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(H, H) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(H, eps=1e-12), nn.LayerNorm(H, eps=1e-12)
        self.fc1, self.fc2 = nn.Linear(H, FF), nn.Linear(FF, H)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = (f(x).view(b, t, A, H // A).transpose(1, 2) for f in (self.q, self.k, self.v))
        a = (torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(H // A), -1) @ v).transpose(1, 2).reshape(b, t, H)
        x = self.ln1(self.o(a) + x)
        return self.ln2(self.fc2(F.gelu(self.fc1(x))) + x)


class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok, self.pos, self.seg = nn.Embedding(V, H), nn.Embedding(128, H), nn.Embedding(2, H)
        self.ln = nn.LayerNorm(H, eps=1e-12)
        self.layers = nn.ModuleList(Layer() for _ in range(L))
        self.dense, self.head_ln = nn.Linear(H, H), nn.LayerNorm(H, eps=1e-12)
        self.bias = nn.Parameter(torch.zeros(V))

    def forward(self, ids, labels):
        b, t = ids.shape
        x = self.ln(self.tok(ids) + self.pos(torch.arange(t))[None] + self.seg(torch.zeros_like(ids)))
        for layer in self.layers:
            x = layer(x)
        chosen = labels.view(-1) != -100
        h = self.head_ln(F.gelu(self.dense(x.reshape(-1, H)[chosen])))
        return F.cross_entropy(h @ self.tok.weight.T + self.bias, labels.view(-1)[chosen])


model = Bert()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
ids = torch.randint(5, V, (B, T))
labels = torch.where(torch.rand(B, T) < 0.15, ids, torch.full_like(ids, -100))


def step():
    opt.zero_grad()
    model(ids, labels).backward()
    opt.step()


step()
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
times.sort()
median = times[len(times) // 2]
print(json.dumps({"model": "bert", "impl": "torch", "step_ms": round(median * 1e3, 1), "tokens_per_s": round(B * T / median)}))
