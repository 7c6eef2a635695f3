"""The ops of bench/matmul_ops_bench.cpp in PyTorch (Debian's 1.13): linear and
attention-shaped batched matmuls, forward + backward, f32 and bf16. bf16 is
torch.autocast('cpu', dtype=torch.bfloat16) over f32 leaves, which is what
kiln's PrecisionGuard(Precision::bf16) does (bf16 operands, f32 master
weights and gradients). Prints JSON {google-benchmark name: median ms}.
Run with /usr/bin/python3; bench/compare_matmul.py runs it as shipped and with
the glibc huge-page tunables."""
import contextlib
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
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


def scope(bf16):
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


results = {}
for bf16 in ((0,) if os.environ.get("KILN_BENCH_TORCH_BF16") == "skip" else (0, 1)):  # bench/frame.sh
    for m, n, k in [(2048, 768, 768), (2048, 3072, 768), (2048, 8192, 384)]:
        x = torch.randn(m, k, requires_grad=True)
        w = torch.randn(n, k, requires_grad=True)
        b = torch.randn(n, requires_grad=True)
        dout = torch.randn(m, n)

        def linear():
            with scope(bf16):
                y = F.linear(x, w, b)
            y.backward(dout.to(y.dtype))
            x.grad = w.grad = b.grad = None
        results[f"BM_linear/bf16:{bf16}/M:{m}/N:{n}/K:{k}"] = median_ms(linear)

    bh, t, d = 12, 256, 64
    q, kk, v = (torch.randn(bh // 6, 6, t, d, requires_grad=True) for _ in range(3))
    dout = torch.randn(bh // 6, 6, t, d)

    def attention_matmuls():
        with scope(bf16):
            o = (q @ kk.transpose(-1, -2)) @ v
        o.backward(dout.to(o.dtype))
        q.grad = kk.grad = v.grad = None
    results[f"BM_attention_matmuls/bf16:{bf16}/BH:{bh}/T:{t}/D:{d}"] = median_ms(attention_matmuls)

json.dump(results, sys.stdout)
