"""The DeepSeekMoE layer of bench/moe_layer_bench.cpp in PyTorch 1.13, written
the usual naive way (as the Hugging Face DeepSeek-V3 training path): sigmoid
router, top-k on score + bias, gates normalised and scaled, then a loop over
experts that gathers each expert's tokens with torch.where and adds its
weighted output back with index_add_. Forward + backward, median of reps.

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch_moe.py [tokens] [d] [experts] [active] [width] [shared] [reps]
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

args = [int(a) for a in sys.argv[1:]] + [None] * 7
tokens, d, experts, active, width, shared, reps = [a if a is not None else dflt for a, dflt in
                                                   zip(args[:7], [2048, 256, 8, 2, 256, 1, 10])]
torch.manual_seed(0)


def mlp(w):
    return [(0.02 * torch.randn(w, d)).requires_grad_(), (0.02 * torch.randn(w, d)).requires_grad_(),
            (0.02 * torch.randn(d, w)).requires_grad_()]


gate_w = (0.02 * torch.randn(experts, d)).requires_grad_()
bias = torch.zeros(experts)
expert_w = [mlp(width) for _ in range(experts)]
shared_w = mlp(shared * width) if shared else None
x = torch.randn(tokens, d).requires_grad_()


def swiglu(h, w):
    return (F.silu(h @ w[0].T) * (h @ w[1].T)) @ w[2].T


def layer(h):
    scores = torch.sigmoid(h @ gate_w.T)
    idx = (scores.detach() + bias).topk(active, -1).indices
    sel = scores.gather(1, idx)
    gates = sel / sel.sum(-1, keepdim=True) * 2.5
    out = torch.zeros_like(h)
    for e in range(experts):
        tok, slot = torch.where(idx == e)
        if tok.numel() == 0:
            continue
        out = out.index_add(0, tok, swiglu(h[tok], expert_w[e]) * gates[tok, slot, None])
    if shared_w is not None:
        out = out + swiglu(h, shared_w)
    return out


def run():
    layer(x).sum().backward()


run()
times = []
for _ in range(reps):
    t0 = time.perf_counter()
    run()
    times.append(time.perf_counter() - t0)
times.sort()
median = times[len(times) // 2]
print(json.dumps({"impl": "torch", "tokens": tokens, "ms": round(median * 1e3, 2),
                  "tokens_per_s": round(tokens / median)}))
