"""Golden data for CPC (van den Oord et al., arXiv 1807.03748) and OadTR
(Wang et al., arXiv 2106.11149), written out by hand in PyTorch 1.13 with
the parameter names kiln uses:
  cpc.*    CPC on 2 waveforms of 1600 samples (10 frames): the five strided
           convolutions (channels 8) with per-frame channel LayerNorm + ReLU,
           a GRU of 6 units, K = 3 linear predictors, InfoNCE with 4 negatives
           per anchor from the saved flat indices (shared by every step k);
           the loss, the per-step accuracies and every gradient.
  oadtr.*  OadTR on 3 windows of T = 5 frames of 4 features: d 8, 2 pre-LN
           encoder blocks (2 heads, qkv without bias, MLP 12), task token
           appended last, 2 post-LN decoder layers (2 heads, causal self-
           attention, cross-attention, FFN 10), 3 queries, 4 classes, no
           dropout; loss = CE(current) + 0.5 · CE(future), every gradient.
  gru.*    the GRU baseline (projection to 6, GRU, classifier of the last state).
"""
import math

import torch
import torch.nn.functional as F

from golden import save

torch.manual_seed(0)
g = torch.Generator().manual_seed(1)


def randn(*shape, s=0.3):
    return (s * torch.randn(*shape, generator=g)).requires_grad_(True)


def ones(*shape):
    return (torch.ones(*shape) + 0.1 * torch.randn(*shape, generator=g)).requires_grad_(True)


def gru(x, w_ih, w_hh, b_ih, b_hh):
    """PyTorch's GRU equations, gate order (r, z, n), batch-first, h0 = 0."""
    b, t, _ = x.shape
    hdim = w_hh.shape[1]
    h = torch.zeros(b, hdim)
    outputs = []
    for i in range(t):
        gi = x[:, i] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        ir, iz, inn = gi.chunk(3, dim=1)
        hr, hz, hn = gh.chunk(3, dim=1)
        r = torch.sigmoid(ir + hr)
        z = torch.sigmoid(iz + hz)
        n = torch.tanh(inn + r * hn)
        h = (1 - z) * n + z * h
        outputs.append(h)
    return torch.stack(outputs, dim=1), h


out = {}

# ---------------------------------------------------------------- CPC
B, L, C, H, K, NNEG = 2, 1600, 8, 6, 3, 4
KERNELS, STRIDES, PADS = [10, 8, 4, 4, 4], [5, 4, 2, 2, 2], [3, 2, 1, 1, 1]
p = {}
cin = 1
for i in range(5):
    p[f"gEncoder.conv{i}.weight"] = randn(C, cin, KERNELS[i])
    p[f"gEncoder.conv{i}.bias"] = randn(C, s=0.1)
    p[f"gEncoder.norm{i}.weight"] = ones(C)
    p[f"gEncoder.norm{i}.bias"] = randn(C, s=0.1)
    cin = C
p["gAR.baseNet.weight_ih_l0"] = randn(3 * H, C)
p["gAR.baseNet.weight_hh_l0"] = randn(3 * H, H)
p["gAR.baseNet.bias_ih_l0"] = randn(3 * H, s=0.1)
p["gAR.baseNet.bias_hh_l0"] = randn(3 * H, s=0.1)
for k in range(K):
    p[f"wPrediction.predictors.{k}.weight"] = randn(C, H)
    p[f"wPrediction.predictors.{k}.bias"] = randn(C, s=0.1)

waves = 0.5 * torch.randn(B, L, generator=g)
x = waves.view(B, 1, L)
for i in range(5):
    x = F.conv1d(x, p[f"gEncoder.conv{i}.weight"], p[f"gEncoder.conv{i}.bias"], stride=STRIDES[i], padding=PADS[i])
    x = F.layer_norm(x.transpose(1, 2), (C,), p[f"gEncoder.norm{i}.weight"], p[f"gEncoder.norm{i}.bias"], 1e-5)
    x = F.relu(x).transpose(1, 2)
z = x.transpose(1, 2)  # [B, S, C]
S = z.shape[1]
assert S == 10
c, _ = gru(z, p["gAR.baseNet.weight_ih_l0"], p["gAR.baseNet.weight_hh_l0"], p["gAR.baseNet.bias_ih_l0"],
           p["gAR.baseNet.bias_hh_l0"])
W = S - K
negatives = torch.randint(0, B * S, (B, W, NNEG), generator=g)
flat = z.reshape(B * S, C)
neg = flat[negatives.view(-1)].view(B, W, NNEG, C)
losses, accuracies = [], []
for k in range(1, K + 1):
    pred = c[:, :W] @ p[f"wPrediction.predictors.{k - 1}.weight"].T + p[f"wPrediction.predictors.{k - 1}.bias"]
    pos = z[:, k:k + W]
    cand = torch.cat([pos.unsqueeze(2), neg], dim=2)  # [B, W, 1+N, C]
    scores = (cand * pred.unsqueeze(2)).sum(-1).reshape(B * W, NNEG + 1)
    losses.append(F.cross_entropy(scores, torch.zeros(B * W, dtype=torch.long), reduction="none"))
    accuracies.append((scores.argmax(dim=1) == 0).double().mean())
loss = torch.stack(losses).mean()
loss.backward()
out["cpc.waves"] = waves
out["cpc.negatives"] = negatives.to(torch.int64)
out["cpc.z"] = z.detach()
out["cpc.c"] = c.detach()
out["cpc.loss"] = loss.detach()
out["cpc.step_loss"] = torch.stack([l.mean() for l in losses]).detach()
out["cpc.accuracy"] = torch.stack(accuracies)
for name, t in p.items():
    out["cpc.param." + name] = t.detach()
    out["cpc.grad." + name] = t.grad

# ---------------------------------------------------------------- OadTR
B, T, FD, D, EL, EH, FF, DL, DH, DFF, Q, NC = 3, 5, 4, 8, 2, 2, 12, 2, 2, 10, 3, 4
EPS = 1e-5
p = {}
p["linear_encoding.weight"] = randn(D, FD)
p["linear_encoding.bias"] = randn(D, s=0.1)
p["cls_token"] = randn(1, 1, D)
p["position_encoding.position_embeddings"] = randn(1, T + 1, D)
for l in range(EL):
    pre = f"encoder.layers.{l}."
    p[pre + "norm1.weight"] = ones(D)
    p[pre + "norm1.bias"] = randn(D, s=0.1)
    p[pre + "attn.qkv.weight"] = randn(3 * D, D)
    p[pre + "attn.proj.weight"] = randn(D, D)
    p[pre + "attn.proj.bias"] = randn(D, s=0.1)
    p[pre + "norm2.weight"] = ones(D)
    p[pre + "norm2.bias"] = randn(D, s=0.1)
    p[pre + "mlp.fc1.weight"] = randn(FF, D)
    p[pre + "mlp.fc1.bias"] = randn(FF, s=0.1)
    p[pre + "mlp.fc2.weight"] = randn(D, FF)
    p[pre + "mlp.fc2.bias"] = randn(D, s=0.1)
p["pre_head_ln.weight"] = ones(D)
p["pre_head_ln.bias"] = randn(D, s=0.1)
p["decoder_cls_token"] = randn(1, Q, D)
for l in range(DL):
    pre = f"decoder.layers.{l}."
    for att in ("self_attention", "cross_attention"):
        for proj in ("query_projection", "key_projection", "value_projection", "out_projection"):
            p[f"{pre}{att}.{proj}.weight"] = randn(D, D)
            p[f"{pre}{att}.{proj}.bias"] = randn(D, s=0.1)
    p[pre + "conv1.weight"] = randn(DFF, D)
    p[pre + "conv1.bias"] = randn(DFF, s=0.1)
    p[pre + "conv2.weight"] = randn(D, DFF)
    p[pre + "conv2.bias"] = randn(D, s=0.1)
    for n in ("norm1", "norm2", "norm3"):
        p[pre + n + ".weight"] = ones(D)
        p[pre + n + ".bias"] = randn(D, s=0.1)
p["decoder.norm.weight"] = ones(D)
p["decoder.norm.bias"] = randn(D, s=0.1)
p["classifier.weight"] = randn(NC, D)
p["classifier.bias"] = randn(NC, s=0.1)
p["mlp_head.weight"] = randn(NC, 2 * D)
p["mlp_head.bias"] = randn(NC, s=0.1)


def lin(x, name):
    return x @ p[name + ".weight"].T + p[name + ".bias"]


def ln(x, name):
    return F.layer_norm(x, (D,), p[name + ".weight"], p[name + ".bias"], EPS)


def mha(q, k, v, heads, causal=False):
    b, tq, _ = q.shape
    tk = k.shape[1]
    dh = D // heads
    q = q.view(b, tq, heads, dh).transpose(1, 2)
    k = k.view(b, tk, heads, dh).transpose(1, 2)
    v = v.view(b, tk, heads, dh).transpose(1, 2)
    s = q @ k.transpose(-1, -2) / math.sqrt(dh)
    if causal:
        s = s.masked_fill(torch.triu(torch.ones(tq, tk, dtype=torch.bool), 1), float("-inf"))
    return (s.softmax(-1) @ v).transpose(1, 2).reshape(b, tq, D)


windows = torch.randn(B, T, FD, generator=g)
current = torch.randint(0, NC, (B,), generator=g)
future = torch.randint(0, NC, (B, Q), generator=g)
x = lin(windows, "linear_encoding")
x = torch.cat([x, p["cls_token"].expand(B, 1, D)], dim=1) + p["position_encoding.position_embeddings"]
for l in range(EL):
    pre = f"encoder.layers.{l}."
    h = ln(x, pre + "norm1")
    qkv = (h @ p[pre + "attn.qkv.weight"].T).view(B, T + 1, 3, D)
    x = x + lin(mha(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], EH), pre + "attn.proj")
    x = x + lin(F.gelu(lin(ln(x, pre + "norm2"), pre + "mlp.fc1")), pre + "mlp.fc2")
enc = ln(x, "pre_head_ln")
y = p["decoder_cls_token"].expand(B, Q, D)
for l in range(DL):
    pre = f"decoder.layers.{l}."

    def att(qs, mem, name, causal):
        return lin(mha(lin(qs, name + ".query_projection"), lin(mem, name + ".key_projection"),
                       lin(mem, name + ".value_projection"), DH, causal), name + ".out_projection")

    y = ln(y + att(y, y, pre + "self_attention", True), pre + "norm1")
    y = ln(y + att(y, enc, pre + "cross_attention", False), pre + "norm2")
    y = ln(y + lin(F.gelu(lin(y, pre + "conv1")), pre + "conv2"), pre + "norm3")
dec = ln(y, "decoder.norm")
future_logits = lin(dec, "classifier")
current_logits = lin(torch.cat([enc[:, -1], dec.mean(dim=1)], dim=1), "mlp_head")
current_loss = F.cross_entropy(current_logits, current)
future_loss = F.cross_entropy(future_logits.reshape(B * Q, NC), future.reshape(-1))
loss = current_loss + 0.5 * future_loss
loss.backward()
out["oadtr.windows"] = windows
out["oadtr.current"] = current
out["oadtr.future"] = future
out["oadtr.current_logits"] = current_logits.detach()
out["oadtr.future_logits"] = future_logits.detach()
out["oadtr.loss"] = loss.detach()
for name, t in p.items():
    out["oadtr.param." + name] = t.detach()
    out["oadtr.grad." + name] = t.grad

# ---------------------------------------------------------------- GRU baseline
HG = 6
p = {
    "input_projection.weight": randn(HG, FD),
    "input_projection.bias": randn(HG, s=0.1),
    "gru.weight_ih_l0": randn(3 * HG, HG),
    "gru.weight_hh_l0": randn(3 * HG, HG),
    "gru.bias_ih_l0": randn(3 * HG, s=0.1),
    "gru.bias_hh_l0": randn(3 * HG, s=0.1),
    "classifier.weight": randn(NC, HG),
    "classifier.bias": randn(NC, s=0.1),
}
hx = windows @ p["input_projection.weight"].T + p["input_projection.bias"]
_, last = gru(hx, p["gru.weight_ih_l0"], p["gru.weight_hh_l0"], p["gru.bias_ih_l0"], p["gru.bias_hh_l0"])
logits = last @ p["classifier.weight"].T + p["classifier.bias"]
loss = F.cross_entropy(logits, current)
loss.backward()
out["gru.logits"] = logits.detach()
out["gru.loss"] = loss.detach()
for name, t in p.items():
    out["gru.param." + name] = t.detach()
    out["gru.grad." + name] = t.grad

save("cpc_oadtr", out)
