"""Golden data for `kiln export hf`: does an exported folder compute, the way
transformers defines LlamaForCausalLM and GPT2LMHeadModel, what kiln computes?

    /usr/bin/python3 tests/reference/hf_export.py [path/to/kiln]   (default build/kiln)

For each block (LLaMA with kiln's interleaved RoPE pairs, GQA and an untied
head; GPT-2 with tied embeddings) the script
  1. draws random weights in kiln's layout ([out, in], RoPE pairs (2i, 2i+1))
     and writes them as a kiln checkpoint folder (config.json, model.safetensors);
  2. runs `kiln export hf` on it;
  3. reads the exported folder with its own loader (config.json fields and a
     safetensors parser; no transformers, which this machine does not have)
     and runs the model as transformers' modeling code defines it:
     LLaMA: q/k/v/o and the MLP as nn.Linear (x @ W.T), RoPE by rotate_half
     (pairs (i, i + d/2), cos/sin of cat(freqs, freqs) in float32), GQA by
     repeat_kv, RMSNorm in float32; GPT-2: Conv1D (x @ W + b with W [in, out]),
     c_attn split into q, k, v, gelu_new (tanh GELU), LayerNorm, the head tied
     to wte;
  4. runs kiln's own definition (interleaved RoPE on the unexported weights)
     and prints max |logit difference| between the two (must be < 1e-5).
Saved to tests/data/reference/hf_export.safetensors, per arch:
  <arch>.kiln.<name>   the kiln-layout weights of step 1
  <arch>.hf.<name>     the tensors of the exported model.safetensors (step 3)
  <arch>.tokens        token ids [2, T]
  <arch>.logits        transformers-definition logits of the exported folder
and as metadata <arch>.config, the kiln config.json of step 1. The C++ test
(tests/train/interop_test.cpp) checks that kiln's forward gives these logits,
that today's export writes exactly these tensors and that import restores the
kiln weights exactly.
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

from golden import save

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
V, D, L, H, H_KV, FFN, T, MAX_POS = 257, 32, 2, 4, 2, 64, 12, 16


# ---- a small safetensors reader and writer ----------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", (name, entry["dtype"])
        a, b = entry["data_offsets"]
        arr = np.frombuffer(data[base + a:base + b], dtype="<f4").reshape(entry["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        raw = tensors[name].detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


# ---- kiln checkpoints (kiln's layout) ---------------------------------------

def kiln_config(arch):
    llama = arch == "llama"
    return {
        "architectures": ["LlamaForCausalLM" if llama else "GPT2LMHeadModel"],
        "model_type": arch,
        "vocab_size": V,
        "hidden_size": D,
        "num_hidden_layers": L,
        "num_attention_heads": H,
        "num_key_value_heads": H_KV if llama else H,
        "intermediate_size": FFN if llama else 4 * D,
        "max_position_embeddings": MAX_POS,
        ("rms_norm_eps" if llama else "layer_norm_epsilon"): 1e-6 if llama else 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": not llama,
        "torch_dtype": "float32",
        "kiln": {"rope_interleaved": True, "init_std": 0.02, "scaled_residual_init": not llama,
                 "weight_layout": "[out, in]"},
    }


def kiln_weights(arch):
    g = torch.Generator().manual_seed(11 if arch == "llama" else 12)
    p = {}

    def add(name, *shape, scale=0.2, around=0.0):
        p[name] = around + scale * torch.randn(*shape, generator=g)

    dh = D // H
    if arch == "llama":
        add("model.embed_tokens.weight", V, D, scale=0.5)
        for l in range(L):
            pre = f"model.layers.{l}."
            add(pre + "input_layernorm.weight", D, scale=0.1, around=1.0)
            add(pre + "self_attn.q_proj.weight", H * dh, D)
            add(pre + "self_attn.k_proj.weight", H_KV * dh, D)
            add(pre + "self_attn.v_proj.weight", H_KV * dh, D)
            add(pre + "self_attn.o_proj.weight", D, H * dh)
            add(pre + "post_attention_layernorm.weight", D, scale=0.1, around=1.0)
            add(pre + "mlp.gate_proj.weight", FFN, D)
            add(pre + "mlp.up_proj.weight", FFN, D)
            add(pre + "mlp.down_proj.weight", D, FFN)
        add("model.norm.weight", D, scale=0.1, around=1.0)
        add("lm_head.weight", V, D)
    else:
        add("transformer.wte.weight", V, D, scale=0.5)
        add("transformer.wpe.weight", MAX_POS, D, scale=0.1)
        for l in range(L):
            pre = f"transformer.h.{l}."
            for ln in ("ln_1", "ln_2"):
                add(pre + ln + ".weight", D, scale=0.1, around=1.0)
                add(pre + ln + ".bias", D, scale=0.1)
            add(pre + "attn.c_attn.weight", 3 * D, D)
            add(pre + "attn.c_attn.bias", 3 * D, scale=0.1)
            add(pre + "attn.c_proj.weight", D, D)
            add(pre + "attn.c_proj.bias", D, scale=0.1)
            add(pre + "mlp.c_fc.weight", 4 * D, D)
            add(pre + "mlp.c_fc.bias", 4 * D, scale=0.1)
            add(pre + "mlp.c_proj.weight", D, 4 * D)
            add(pre + "mlp.c_proj.bias", D, scale=0.1)
        add("transformer.ln_f.weight", D, scale=0.1, around=1.0)
        add("transformer.ln_f.bias", D, scale=0.1)
    return p


# ---- shared pieces -----------------------------------------------------------

def causal_attention(q, k, v):
    """q [B, H, T, d], k/v [B, H, T, d] (heads already repeated)."""
    t = q.shape[2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
    scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, -1) @ v


def rms_norm(x, w, eps):  # LlamaRMSNorm
    variance = x.float().pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(variance + eps))


# ---- transformers' definitions, from an exported folder ----------------------

def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def hf_llama_logits(cfg, w, tokens):
    d, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads") or nh
    hd = cfg.get("head_dim") or d // nh
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    B, t = tokens.shape
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = torch.arange(t).float()[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()  # [T, hd]
    x = w["model.embed_tokens.weight"][tokens]
    for l in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{l}."
        h = rms_norm(x, w[pre + "input_layernorm.weight"], eps)
        q = (h @ w[pre + "self_attn.q_proj.weight"].T).view(B, t, nh, hd).transpose(1, 2)
        k = (h @ w[pre + "self_attn.k_proj.weight"].T).view(B, t, nkv, hd).transpose(1, 2)
        v = (h @ w[pre + "self_attn.v_proj.weight"].T).view(B, t, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nh // nkv  # repeat_kv: each kv head serves rep consecutive query heads
        k = k[:, :, None].expand(B, nkv, rep, t, hd).reshape(B, nh, t, hd)
        v = v[:, :, None].expand(B, nkv, rep, t, hd).reshape(B, nh, t, hd)
        a = causal_attention(q, k, v).transpose(1, 2).reshape(B, t, nh * hd)
        x = x + a @ w[pre + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[pre + "post_attention_layernorm.weight"], eps)
        gate = h @ w[pre + "mlp.gate_proj.weight"].T
        up = h @ w[pre + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ w[pre + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def hf_gpt2_logits(cfg, w, tokens):
    d, nh, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    assert cfg["activation_function"] == "gelu_new" and cfg["scale_attn_weights"]
    hd = d // nh
    B, t = tokens.shape
    ln = torch.nn.functional.layer_norm
    x = w["transformer.wte.weight"][tokens] + w["transformer.wpe.weight"][torch.arange(t)]
    for l in range(cfg["n_layer"]):
        pre = f"transformer.h.{l}."
        h = ln(x, (d,), w[pre + "ln_1.weight"], w[pre + "ln_1.bias"], eps)
        qkv = h @ w[pre + "attn.c_attn.weight"] + w[pre + "attn.c_attn.bias"]  # Conv1D
        q, k, v = qkv.split(d, dim=2)
        q, k, v = (z.view(B, t, nh, hd).transpose(1, 2) for z in (q, k, v))
        a = causal_attention(q, k, v).transpose(1, 2).reshape(B, t, d)
        x = x + a @ w[pre + "attn.c_proj.weight"] + w[pre + "attn.c_proj.bias"]
        h = ln(x, (d,), w[pre + "ln_2.weight"], w[pre + "ln_2.bias"], eps)
        h = gelu_new(h @ w[pre + "mlp.c_fc.weight"] + w[pre + "mlp.c_fc.bias"])
        x = x + h @ w[pre + "mlp.c_proj.weight"] + w[pre + "mlp.c_proj.bias"]
    x = ln(x, (d,), w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    head = w["transformer.wte.weight"] if cfg.get("tie_word_embeddings", True) else w["lm_head.weight"]
    return x @ head.T


def hf_logits(folder, tokens):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(folder, "model.safetensors"))
    arch = cfg["architectures"][0]
    if arch == "LlamaForCausalLM":
        return hf_llama_logits(cfg, w, tokens), w
    assert arch == "GPT2LMHeadModel", arch
    return hf_gpt2_logits(cfg, w, tokens), w


# ---- kiln's definition, on kiln's layout --------------------------------------

def kiln_logits(arch, cfg, w, tokens):
    B, t = tokens.shape
    if arch == "gpt2":  # the same maths with [out, in] weights
        conv = {n: (p.T if n.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")) else p) for n, p in w.items()}
        return hf_gpt2_logits({"n_embd": D, "n_head": H, "n_layer": L, "layer_norm_epsilon": 1e-5,
                               "activation_function": "gelu_new", "scale_attn_weights": True}, conv, tokens)
    hd, eps = D // H, cfg["rms_norm_eps"]
    inv = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(t, dtype=torch.float64)[:, None] * inv
    cos, sin = ang.cos().float(), ang.sin().float()  # [T, hd/2]

    def rope(z):  # interleaved pairs (2i, 2i+1); z [B, T, heads, hd]
        a, b = z[..., 0::2], z[..., 1::2]
        c, s = cos[None, :, None, :], sin[None, :, None, :]
        return torch.stack([a * c - b * s, a * s + b * c], -1).flatten(-2)

    x = w["model.embed_tokens.weight"][tokens]
    for l in range(L):
        pre = f"model.layers.{l}."
        h = rms_norm(x, w[pre + "input_layernorm.weight"], eps)
        q = rope((h @ w[pre + "self_attn.q_proj.weight"].T).view(B, t, H, hd))
        k = rope((h @ w[pre + "self_attn.k_proj.weight"].T).view(B, t, H_KV, hd))
        v = (h @ w[pre + "self_attn.v_proj.weight"].T).view(B, t, H_KV, hd)
        k = k.repeat_interleave(H // H_KV, dim=2)
        v = v.repeat_interleave(H // H_KV, dim=2)
        a = causal_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2).reshape(B, t, D)
        x = x + a @ w[pre + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[pre + "post_attention_layernorm.weight"], eps)
        x = x + (torch.nn.functional.silu(h @ w[pre + "mlp.gate_proj.weight"].T) * (h @ w[pre + "mlp.up_proj.weight"].T)) @ w[pre + "mlp.down_proj.weight"].T
    return rms_norm(x, w["model.norm.weight"], eps) @ w["lm_head.weight"].T


def main():
    kiln = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "kiln")
    torch.manual_seed(0)
    out, meta = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ("llama", "gpt2"):
            cfg = kiln_config(arch)
            w = kiln_weights(arch)
            ckpt = os.path.join(tmp, arch, "checkpoint")
            os.makedirs(ckpt)
            with open(os.path.join(ckpt, "config.json"), "w") as f:
                json.dump(cfg, f, indent=2)
            write_safetensors(os.path.join(ckpt, "model.safetensors"), w)
            exported = os.path.join(tmp, arch, "hf")
            subprocess.run([kiln, "export", "hf", ckpt, "-o", exported], check=True)
            tokens = torch.randint(0, V, (2, T), generator=torch.Generator().manual_seed(5))
            with torch.no_grad():
                theirs, hf_w = hf_logits(exported, tokens)
                ours = kiln_logits(arch, cfg, w, tokens)
            diff = (theirs - ours).abs().max().item()
            print(f"{arch}: max |transformers-definition logits of the export - kiln-definition logits| = {diff:.3g}")
            assert diff < 1e-5, diff
            for n, p in w.items():
                out[f"{arch}.kiln.{n}"] = p
            for n, p in hf_w.items():
                out[f"{arch}.hf.{n}"] = p
            out[f"{arch}.tokens"] = tokens
            out[f"{arch}.logits"] = theirs
            meta[f"{arch}.config"] = json.dumps(cfg)
    save("hf_export", out, meta)


if __name__ == "__main__":
    main()
