"""The ops of bench/ops_bench.cpp and bench/gemm_bench.cpp in PyTorch (Debian's
1.13), same shapes, forward + backward. Prints JSON {name: median ms}.
Run with /usr/bin/python3; bench/compare.py runs it twice (as shipped and in
PyTorch's best configuration: huge-page malloc tunables, bf16 autocast)."""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

torch.manual_seed(0)
threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
torch.set_num_threads(threads)
REPEATS = int(os.environ.get("KILN_BENCH_REPEATS", "7"))


def median_ms(fn, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


results = {}


def attention(t):
    q, k, v = (torch.randn(1, 6, t, 64, requires_grad=True) for _ in range(3))
    dout = torch.randn(1, 6, t, 64)
    mask = torch.ones(t, t, dtype=torch.bool).tril()

    def step():
        s = (q @ k.transpose(-1, -2)) / math.sqrt(64)
        p = torch.softmax(s.masked_fill(~mask, float("-inf")), -1)
        (p @ v).backward(dout)
        q.grad = k.grad = v.grad = None
    return step


for t in (256, 1024):
    results[f"BM_attention_causal/{t}"] = median_ms(attention(t))

x = torch.randn(4096, 768, requires_grad=True)
w = torch.randn(768, requires_grad=True)
b = torch.randn(768, requires_grad=True)
dout = torch.randn(4096, 768)


def layer_norm():
    F.layer_norm(x, (768,), w, b, 1e-5).backward(dout)
    x.grad = w.grad = b.grad = None


def rms_norm():  # no fused RMSNorm in PyTorch 1.13: the usual composition
    (w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)).backward(dout)
    x.grad = w.grad = None


results["BM_layer_norm"] = median_ms(layer_norm)
results["BM_rms_norm"] = median_ms(rms_norm)

logits = torch.randn(2048, 8192, requires_grad=True)
targets = (torch.arange(2048) * 7919) % 8192


def cross_entropy():
    F.cross_entropy(logits, targets).backward()
    logits.grad = None


results["BM_cross_entropy"] = median_ms(cross_entropy)

params = [torch.randn(1000, 1000, requires_grad=True) for _ in range(10)]
for p in params:
    p.grad = torch.randn(1000, 1000)
opt = torch.optim.AdamW(params)
results["BM_adamw"] = median_ms(opt.step)

for m, n, k in [(2048, 384, 384), (2048, 1536, 384), (2048, 384, 1536), (2048, 768, 768), (2048, 3072, 768),
                (2048, 8192, 384), (256, 256, 64)]:
    a, bm = torch.randn(m, k), torch.randn(n, k)
    results[f"BM_Gemm_F32_oneDNN/{m}/{n}/{k}"] = median_ms(lambda: a @ bm.t())
    if os.environ.get("KILN_BENCH_TORCH_BF16") != "skip":  # set by bench/frame.sh where bf16 is hopeless
        a16, b16 = a.bfloat16(), bm.bfloat16()
        results[f"BM_Gemm_BF16_oneDNN/{m}/{n}/{k}"] = median_ms(lambda: a16 @ b16.t())

json.dump(results, sys.stdout)
