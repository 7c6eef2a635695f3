"""Golden data for the decoder LM (DeepSeek-LLM/LLaMA block and GPT-2 block).

Both architectures are written out by hand in PyTorch 1.13 (which has no
RMSNorm or fused attention), with Hugging Face parameter names and kiln's
[out, in] weight layout. Saved per architecture:
  <arch>.param.<name>          weights (random, fixed seed)
  <arch>.tokens / .targets     a dense batch [B, T] (−100 marks no-loss positions)
  <arch>.loss                  mean cross-entropy over counted targets
  <arch>.grad.<name>           d loss / d parameter
  <arch>.packed.*              three documents packed into one row, with
                               positions restarting per document and
                               cu_seqlens; loss = token-weighted mean of the
                               per-document losses (computed one by one).
"""
import math

import torch
import torch.nn.functional as F

from golden import save

torch.manual_seed(0)
V, D, L, H, H_KV, T = 48, 32, 2, 4, 2, 12
FFN = 64  # explicit width, so the test does not depend on the rounding rule


def rms_norm(x, w, eps):
    x32 = x.float()
    return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps))


def rope(x, pos, theta, interleaved):
    d = x.shape[-1]
    inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    ang = pos.double()[..., None] * inv  # [B, T, d/2]
    cos = ang.cos().float()[:, :, None, :]
    sin = ang.sin().float()[:, :, None, :]
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]
        out = torch.stack([a * cos - b * sin, a * sin + b * cos], -1)
        return out.flatten(-2)
    a, b = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)


def attention(q, k, v, causal_segments):
    """q [B, T, H, d], k/v [B, T, Hkv, d]; causal_segments: list per row of
    (start, end) spans; a query attends to earlier keys of its own span."""
    B, T_, Hq, d = q.shape
    group = Hq // k.shape[2]
    k = k.repeat_interleave(group, dim=2)
    v = v.repeat_interleave(group, dim=2)
    scores = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(d)
    mask = torch.full((B, T_, T_), float("-inf"))
    for b, spans in enumerate(causal_segments):
        for s, e in spans:
            for i in range(s, e):
                mask[b, i, s:i + 1] = 0
    p = torch.softmax(scores + mask[:, None], -1)
    return torch.einsum("bhts,bshd->bthd", p, v)


def make_params(arch):
    g = torch.Generator().manual_seed(1 if arch == "llama" else 2)
    p = {}

    def add(name, *shape, kind="normal"):
        if kind == "ones":
            t = torch.ones(*shape) + 0.1 * torch.randn(*shape, generator=g)
        elif kind == "zeros":
            t = 0.1 * torch.randn(*shape, generator=g)
        else:
            t = 0.2 * torch.randn(*shape, generator=g)
        p[name] = t.requires_grad_(True)

    dh = D // H
    if arch == "llama":
        add("model.embed_tokens.weight", V, D)
        for l in range(L):
            pre = f"model.layers.{l}."
            add(pre + "input_layernorm.weight", D, kind="ones")
            add(pre + "self_attn.q_proj.weight", D, D)
            add(pre + "self_attn.k_proj.weight", H_KV * dh, D)
            add(pre + "self_attn.v_proj.weight", H_KV * dh, D)
            add(pre + "self_attn.o_proj.weight", D, D)
            add(pre + "post_attention_layernorm.weight", D, kind="ones")
            add(pre + "mlp.gate_proj.weight", FFN, D)
            add(pre + "mlp.up_proj.weight", FFN, D)
            add(pre + "mlp.down_proj.weight", D, FFN)
        add("model.norm.weight", D, kind="ones")
        add("lm_head.weight", V, D)
    else:
        add("transformer.wte.weight", V, D)
        add("transformer.wpe.weight", T, D)
        for l in range(L):
            pre = f"transformer.h.{l}."
            add(pre + "ln_1.weight", D, kind="ones")
            add(pre + "ln_1.bias", D, kind="zeros")
            add(pre + "attn.c_attn.weight", 3 * D, D)
            add(pre + "attn.c_attn.bias", 3 * D, kind="zeros")
            add(pre + "attn.c_proj.weight", D, D)
            add(pre + "attn.c_proj.bias", D, kind="zeros")
            add(pre + "ln_2.weight", D, kind="ones")
            add(pre + "ln_2.bias", D, kind="zeros")
            add(pre + "mlp.c_fc.weight", FFN, D)
            add(pre + "mlp.c_fc.bias", FFN, kind="zeros")
            add(pre + "mlp.c_proj.weight", D, FFN)
            add(pre + "mlp.c_proj.bias", D, kind="zeros")
        add("transformer.ln_f.weight", D, kind="ones")
        add("transformer.ln_f.bias", D, kind="zeros")
        # tied embeddings for GPT-2: no lm_head
    return p


def forward(arch, p, tokens, positions, spans):
    B, T_ = tokens.shape
    dh = D // H
    if arch == "llama":
        x = p["model.embed_tokens.weight"][tokens]
        for l in range(L):
            pre = f"model.layers.{l}."
            h = rms_norm(x, p[pre + "input_layernorm.weight"], 1e-6)
            q = (h @ p[pre + "self_attn.q_proj.weight"].t()).view(B, T_, H, dh)
            k = (h @ p[pre + "self_attn.k_proj.weight"].t()).view(B, T_, H_KV, dh)
            v = (h @ p[pre + "self_attn.v_proj.weight"].t()).view(B, T_, H_KV, dh)
            q, k = rope(q, positions, 10000.0, True), rope(k, positions, 10000.0, True)
            o = attention(q, k, v, spans).reshape(B, T_, D)
            x = x + o @ p[pre + "self_attn.o_proj.weight"].t()
            h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], 1e-6)
            gate = h @ p[pre + "mlp.gate_proj.weight"].t()
            up = h @ p[pre + "mlp.up_proj.weight"].t()
            x = x + (F.silu(gate) * up) @ p[pre + "mlp.down_proj.weight"].t()
        x = rms_norm(x, p["model.norm.weight"], 1e-6)
        return x @ p["lm_head.weight"].t()
    x = p["transformer.wte.weight"][tokens] + p["transformer.wpe.weight"][positions]
    for l in range(L):
        pre = f"transformer.h.{l}."
        h = F.layer_norm(x, (D,), p[pre + "ln_1.weight"], p[pre + "ln_1.bias"], 1e-5)
        qkv = F.linear(h, p[pre + "attn.c_attn.weight"], p[pre + "attn.c_attn.bias"])
        q, k, v = [t.reshape(B, T_, H, dh) for t in qkv.split(D, -1)]
        o = attention(q, k, v, spans).reshape(B, T_, D)
        x = x + F.linear(o, p[pre + "attn.c_proj.weight"], p[pre + "attn.c_proj.bias"])
        h = F.layer_norm(x, (D,), p[pre + "ln_2.weight"], p[pre + "ln_2.bias"], 1e-5)
        m = F.gelu(F.linear(h, p[pre + "mlp.c_fc.weight"], p[pre + "mlp.c_fc.bias"]), approximate="tanh")
        x = x + F.linear(m, p[pre + "mlp.c_proj.weight"], p[pre + "mlp.c_proj.bias"])
    x = F.layer_norm(x, (D,), p["transformer.ln_f.weight"], p["transformer.ln_f.bias"], 1e-5)
    return x @ p["transformer.wte.weight"].t()


def loss_of(logits, targets):
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100)


out = {}
g = torch.Generator().manual_seed(3)
for arch in ["llama", "gpt2"]:
    p = make_params(arch)
    for name, t in p.items():
        out[f"{arch}.param.{name}"] = t
    # dense batch: 2 rows of T tokens, next-token targets, last position ignored
    seq = torch.randint(0, V, (2, T + 1), generator=g)
    tokens, targets = seq[:, :-1].clone(), seq[:, 1:].clone()
    targets[1, 4] = -100
    positions = torch.arange(T).expand(2, T)
    loss = loss_of(forward(arch, p, tokens, positions, [[(0, T)], [(0, T)]]), targets)
    loss.backward()
    out[f"{arch}.tokens"], out[f"{arch}.targets"], out[f"{arch}.loss"] = tokens, targets, loss.reshape(1)
    for name, t in p.items():
        out[f"{arch}.grad.{name}"] = t.grad.clone()
        t.grad = None
    # packed: documents of lengths 5, 4, 3 in one row of 12
    lengths = [5, 4, 3]
    docs = [torch.randint(0, V, (n,), generator=g) for n in lengths]
    total_loss, total_count = 0.0, 0
    for doc in docs:  # each document alone
        n = doc.numel()
        t_in, t_out = doc[None, :], torch.cat([doc[1:], torch.tensor([-100])])[None, :]
        logits = forward(arch, p, t_in, torch.arange(n)[None, :], [[(0, n)]])
        total_loss = total_loss + F.cross_entropy(logits.reshape(-1, V), t_out.reshape(-1), ignore_index=-100,
                                                  reduction="sum")
        total_count += n - 1
    mean = total_loss / total_count
    mean.backward()
    packed_tokens = torch.cat(docs)[None, :]
    packed_targets = torch.cat([torch.cat([d[1:], torch.tensor([-100])]) for d in docs])[None, :]
    packed_positions = torch.cat([torch.arange(n) for n in lengths])[None, :]
    cu = torch.tensor([0, 5, 9, 12], dtype=torch.int32)
    out[f"{arch}.packed.tokens"], out[f"{arch}.packed.targets"] = packed_tokens, packed_targets
    out[f"{arch}.packed.positions"], out[f"{arch}.packed.cu_seqlens"] = packed_positions, cu
    out[f"{arch}.packed.loss"] = mean.reshape(1)
    for name, t in p.items():
        out[f"{arch}.packed.grad.{name}"] = t.grad.clone()
        t.grad = None

save("gpt_model", out, {"torch": torch.__version__, "script": "tests/reference/gpt_model.py",
                        "config": f"V={V} D={D} L={L} H={H} H_kv={H_KV} T={T} ffn={FFN}"})
