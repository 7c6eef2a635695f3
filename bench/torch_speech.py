"""The CPC model and the online detectors of bench/speech_bench.cpp in
PyTorch 1.13 with standard modules (Conv1d, LayerNorm, nn.GRU, Linear; the
OadTR attention written out, as 1.13 has no fused kernel): CPC frames/s over
AdamW training steps (batch 16 × 20480 samples, 64 negatives from the batch,
K = 12), detector latency per frame (one 64-frame window, batch 1, no_grad).
Prints one JSON line.

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch_speech.py cpc|oadtr|gru [repeats]
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

which = sys.argv[1] if len(sys.argv) > 1 else "cpc"
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
torch.manual_seed(0)


def median_seconds(step):
    step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


class Cpc(nn.Module):
    def __init__(self, c=128, h=128, k=12):
        super().__init__()
        kernels, strides, pads = [10, 8, 4, 4, 4], [5, 4, 2, 2, 2], [3, 2, 1, 1, 1]
        self.convs = nn.ModuleList(nn.Conv1d(1 if i == 0 else c, c, kernels[i], strides[i], pads[i]) for i in range(5))
        self.norms = nn.ModuleList(nn.LayerNorm(c) for _ in range(5))
        self.gru = nn.GRU(c, h, batch_first=True)
        self.predictors = nn.ModuleList(nn.Linear(h, c) for _ in range(k))
        self.k = k

    def forward(self, waves, negatives):
        x = waves.unsqueeze(1)
        for conv, norm in zip(self.convs, self.norms):
            x = F.relu(norm(conv(x).transpose(1, 2))).transpose(1, 2)
        z = x.transpose(1, 2)
        c, _ = self.gru(z)
        b, s, d = z.shape
        w = s - self.k
        preds = torch.stack([p(c[:, :w]) for p in self.predictors], dim=2).reshape(b * w, self.k, d)
        neg = z.reshape(b * s, d)[negatives.view(-1)].view(b * w, -1, d)
        neg_scores = preds @ neg.transpose(1, 2)
        pos = torch.stack([z[:, k:k + w] for k in range(1, self.k + 1)], dim=2).reshape(b * w, self.k, d)
        pos_scores = (preds * pos).sum(-1, keepdim=True)
        scores = torch.cat([pos_scores, neg_scores], dim=2).reshape(b * w * self.k, -1)
        return F.cross_entropy(scores, torch.zeros(scores.shape[0], dtype=torch.long))


class EncoderBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), -1) @ v
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mem, causal):
        b, t, d = x.shape
        s = mem.shape[1]
        h = self.heads
        q = self.q(x).view(b, t, h, d // h).transpose(1, 2)
        k = self.k(mem).view(b, s, h, d // h).transpose(1, 2)
        v = self.v(mem).view(b, s, h, d // h).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // h)
        if causal:
            scores = scores.masked_fill(torch.triu(torch.ones(t, s, dtype=torch.bool), 1), float("-inf"))
        return self.o((torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(b, t, d))


class DecoderLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.self_attention, self.cross_attention = Attention(d, heads), Attention(d, heads)
        self.conv1, self.conv2 = nn.Linear(d, d), nn.Linear(d, d)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, y, mem):
        y = self.norm1(y + self.self_attention(y, y, True))
        y = self.norm2(y + self.cross_attention(y, mem, False))
        return self.norm3(y + self.conv2(F.gelu(self.conv1(y))))


class Oadtr(nn.Module):
    def __init__(self, f=40, d=128, t=64, classes=11, queries=8):
        super().__init__()
        self.linear_encoding = nn.Linear(f, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(0.02 * torch.randn(1, t + 1, d))
        self.encoder = nn.ModuleList(EncoderBlock(d, 8) for _ in range(3))
        self.pre_head_ln = nn.LayerNorm(d)
        self.queries = nn.Parameter(torch.zeros(1, queries, d))
        self.decoder = nn.ModuleList(DecoderLayer(d, 4) for _ in range(5))
        self.decoder_norm = nn.LayerNorm(d)
        self.classifier = nn.Linear(d, classes)
        self.mlp_head = nn.Linear(2 * d, classes)

    def forward(self, x):
        b = x.shape[0]
        x = torch.cat([self.linear_encoding(x), self.cls_token.expand(b, 1, -1)], dim=1) + self.pos
        for block in self.encoder:
            x = block(x)
        enc = self.pre_head_ln(x)
        y = self.queries.expand(b, -1, -1)
        for layer in self.decoder:
            y = layer(y, enc)
        dec = self.decoder_norm(y)
        self.classifier(dec)
        return self.mlp_head(torch.cat([enc[:, -1], dec.mean(1)], dim=1))


class GruDetector(nn.Module):
    def __init__(self, f=40, h=128, classes=11):
        super().__init__()
        self.input_projection = nn.Linear(f, h)
        self.gru = nn.GRU(h, h, batch_first=True)
        self.classifier = nn.Linear(h, classes)

    def forward(self, x):
        _, last = self.gru(self.input_projection(x))
        return self.classifier(last[0])


if which == "cpc":
    B, L, NEG = 16, 20480, 64
    model = Cpc()
    opt = torch.optim.AdamW(model.parameters())
    waves = 0.3 * torch.randn(B, L)
    S = 128
    W = S - 12

    def step():
        negatives = torch.randint(0, B * S, (B * W, NEG))
        opt.zero_grad()
        model(waves, negatives).backward()
        opt.step()

    s = median_seconds(step)
    print(json.dumps({"model": "cpc-torch", "batch": B, "step_ms": round(s * 1e3, 1), "frames_per_s": round(B * S / s)}))
else:
    model = Oadtr() if which == "oadtr" else GruDetector()
    model.eval()
    window = torch.randn(1, 64, 40)
    with torch.no_grad():
        s = median_seconds(lambda: model(window))
    print(json.dumps({"model": which + "-torch", "latency_ms_per_frame": round(s * 1e3, 3)}))
