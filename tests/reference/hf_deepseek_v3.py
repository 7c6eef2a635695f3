"""Golden data for `kiln export hf` of DeepSeek-V3 checkpoints (MLA, MoE, MTP):
does the exported folder compute, the way DeepseekV3ForCausalLM defines the
model, what kiln computes?

    /usr/bin/python3 tests/reference/hf_deepseek_v3.py [path/to/kiln]   (default build/kiln)

Two small models, one trained with kiln's default interleaved RoPE pairs and
one with half-split pairs (q_lora_rank > 0 in the first, queries straight
from the input in the second), each with MLA, DeepSeekMoE (4 routed experts
in 2 groups, 1 group kept, top-2, a shared expert, sigmoid scores with a
correction bias, routed_scaling_factor 2.5; the first layer dense) and one
MTP module. For each the script
  1. draws random weights in kiln's layout and writes a kiln checkpoint;
  2. runs `kiln export hf` on it;
  3. reads the folder with its own loader (no transformers here) and runs
     the model as the DeepSeek-V3 release's modeling code (and transformers'
     DeepseekV3, rope_interleave = true) defines it: MLA with q_a/q_b or q
     projections, kv_a_proj_with_mqa split into the latent and the shared
     rotary key, kv_a_layernorm, kv_b_proj, the rotary parts regrouped
     q.view(…, d/2, 2).transpose(-1, -2) before rotate_half, softmax scale
     1/sqrt(qk_head_dim); the MoE gate in float32: sigmoid, + bias for the
     choice only, groups scored by their top-2 sum, topk_group groups kept
     (others filled with 0.0), top-k, weights = unbiased scores normalised
     (+1e-20) times routed_scaling_factor, plus the shared experts; and the
     MTP module from the release's tensor names (layer L: enorm, hnorm,
     eh_proj over [enorm(embed_tokens(x_{i+1})), hnorm(h_i)], its own block,
     shared_head.norm, shared_head.head), h_i being the main model's last
     hidden state before the final norm, as kiln defines MTP;
  4. runs kiln's own definition on the unexported weights (RoPE in kiln's
     pairing, nothing regrouped) and checks both agree (< 1e-5).
Saved to tests/data/reference/hf_deepseek_v3.safetensors, per model <m>:
  <m>.kiln.<name>   kiln-layout weights;  <m>.hf.<name>  the exported tensors
  <m>.tokens [2, T];  <m>.logits [2, T, V];  <m>.mtp_logits [2, T-1, V]
and metadata <m>.config, the kiln config.json.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import torch

from golden import save
from hf_export import causal_attention, read_safetensors, rms_norm, rotate_half, write_safetensors

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
V, D, L, H, FFN, T, MAX_POS = 257, 32, 2, 4, 48, 10, 16
KV_RANK, NOPE, ROPE, VD = 16, 8, 4, 8
EXPERTS, SHARED, TOPK, GROUPS, KEEP, EXPERT_FFN, SCALE = 4, 1, 2, 2, 1, 16, 2.5
EPS, THETA = 1e-6, 10000.0
MODELS = {"interleaved": {"q_lora_rank": 16, "interleaved": True, "seed": 21},
          "half_split": {"q_lora_rank": 0, "interleaved": False, "seed": 22}}


def kiln_config(q_lora_rank, interleaved):
    return {
        "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "vocab_size": V, "hidden_size": D,
        "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": H, "intermediate_size": FFN,
        "max_position_embeddings": MAX_POS, "rms_norm_eps": EPS, "rope_theta": THETA, "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "q_lora_rank": q_lora_rank or None, "kv_lora_rank": KV_RANK, "qk_nope_head_dim": NOPE,
        "qk_rope_head_dim": ROPE, "v_head_dim": VD,
        "n_routed_experts": EXPERTS, "n_shared_experts": SHARED, "num_experts_per_tok": TOPK,
        "moe_intermediate_size": EXPERT_FFN, "n_group": GROUPS, "topk_group": KEEP, "first_k_dense_replace": 1,
        "routed_scaling_factor": SCALE, "scoring_func": "sigmoid", "topk_method": "noaux_tc", "norm_topk_prob": True,
        "aux_loss_alpha": 0.0001, "num_nextn_predict_layers": 1,
        "kiln": {"rope_interleaved": interleaved, "init_std": 0.02, "scaled_residual_init": False,
                 "attention": "mla", "bias_update_speed": 0.001, "weight_layout": "[out, in]"},
    }


def kiln_weights(q_lora_rank, seed):
    g = torch.Generator().manual_seed(seed)
    p = {}

    def add(name, *shape, scale=0.2, around=0.0):
        p[name] = around + scale * torch.randn(*shape, generator=g)

    def block(l):
        pre = f"model.layers.{l}."
        add(pre + "input_layernorm.weight", D, scale=0.1, around=1.0)
        if q_lora_rank:
            add(pre + "self_attn.q_a_proj.weight", q_lora_rank, D)
            add(pre + "self_attn.q_a_layernorm.weight", q_lora_rank, scale=0.1, around=1.0)
            add(pre + "self_attn.q_b_proj.weight", H * (NOPE + ROPE), q_lora_rank)
        else:
            add(pre + "self_attn.q_proj.weight", H * (NOPE + ROPE), D)
        add(pre + "self_attn.kv_a_proj_with_mqa.weight", KV_RANK + ROPE, D)
        add(pre + "self_attn.kv_a_layernorm.weight", KV_RANK, scale=0.1, around=1.0)
        add(pre + "self_attn.kv_b_proj.weight", H * (NOPE + VD), KV_RANK)
        add(pre + "self_attn.o_proj.weight", D, H * VD)
        add(pre + "post_attention_layernorm.weight", D, scale=0.1, around=1.0)
        if l == 0:
            for name, shape in (("gate_proj", (FFN, D)), ("up_proj", (FFN, D)), ("down_proj", (D, FFN))):
                add(pre + f"mlp.{name}.weight", *shape)
            return
        add(pre + "mlp.gate.weight", EXPERTS, D)
        # A non-negative correction bias keeps every biased score positive, where the release's
        # masked_fill(0.0) and kiln's −inf for the groups left out choose alike.
        p[pre + "mlp.gate.e_score_correction_bias"] = 0.1 * torch.rand(EXPERTS, generator=g)
        for e in range(EXPERTS):
            for name, shape in (("gate_proj", (EXPERT_FFN, D)), ("up_proj", (EXPERT_FFN, D)),
                                ("down_proj", (D, EXPERT_FFN))):
                add(pre + f"mlp.experts.{e}.{name}.weight", *shape)
        for name, shape in (("gate_proj", (SHARED * EXPERT_FFN, D)), ("up_proj", (SHARED * EXPERT_FFN, D)),
                            ("down_proj", (D, SHARED * EXPERT_FFN))):
            add(pre + f"mlp.shared_experts.{name}.weight", *shape)

    add("model.embed_tokens.weight", V, D, scale=0.5)
    for l in range(L):
        block(l)
    add("model.norm.weight", D, scale=0.1, around=1.0)
    add("lm_head.weight", V, D)
    mtp = f"model.layers.{L}."
    add(mtp + "enorm.weight", D, scale=0.1, around=1.0)
    add(mtp + "hnorm.weight", D, scale=0.1, around=1.0)
    add(mtp + "eh_proj.weight", D, 2 * D)
    block(L)
    add(mtp + "shared_head.norm.weight", D, scale=0.1, around=1.0)
    return p


# ---- the model, from a config.json, with the rotary convention as a parameter ----

class Dims:
    """What the forward needs, read from a DeepseekV3 config.json (exported or kiln's)."""

    def __init__(self, cfg):
        self.heads, self.layers = cfg["num_attention_heads"], cfg["num_hidden_layers"]
        self.nope, self.rope, self.vd = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
        self.kv_rank, self.q_lora_rank = cfg["kv_lora_rank"], cfg.get("q_lora_rank") or 0
        self.eps, self.theta = cfg["rms_norm_eps"], cfg["rope_theta"]
        self.experts = cfg.get("n_routed_experts") or 0
        self.first_dense = cfg["first_k_dense_replace"] if self.experts else self.layers + cfg["num_nextn_predict_layers"]
        self.groups, self.keep = cfg.get("n_group", 1), cfg.get("topk_group", 1)
        self.topk, self.scale = cfg.get("num_experts_per_tok") or 0, cfg.get("routed_scaling_factor", 1.0)
        self.mtp = cfg.get("num_nextn_predict_layers", 0)
        self.tied = cfg.get("tie_word_embeddings", False)


def rotary(z, positions, mode, dims):
    """z [B, heads, T, rope]. mode: "release" (DeepSeek's modeling code: interleaved rows
    regrouped, then rotate_half), "interleaved" (kiln: pairs (2i, 2i+1)), "half" (kiln: (i, i + d/2))."""
    inv = 1.0 / (dims.theta ** (torch.arange(0, dims.rope, 2, dtype=torch.int64).float() / dims.rope))
    freqs = positions.float()[:, None] * inv[None, :]
    if mode == "interleaved":
        cos, sin = freqs.cos(), freqs.sin()
        a, b = z[..., 0::2], z[..., 1::2]
        return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    if mode == "release":
        b, h, s, d = z.shape
        z = z.view(b, h, s, d // 2, 2).transpose(4, 3).reshape(b, h, s, d)
    return z * cos + rotate_half(z) * sin


def mla(w, pre, x, positions, mode, dims):
    B, t, _ = x.shape
    H, NOPE, ROPE, VD, EPS = dims.heads, dims.nope, dims.rope, dims.vd, dims.eps
    if dims.q_lora_rank:
        q = rms_norm(x @ w[pre + "q_a_proj.weight"].T, w[pre + "q_a_layernorm.weight"], EPS) @ w[pre + "q_b_proj.weight"].T
    else:
        q = x @ w[pre + "q_proj.weight"].T
    q = q.view(B, t, H, NOPE + ROPE).transpose(1, 2)
    q_nope, q_pe = torch.split(q, [NOPE, ROPE], dim=-1)
    kv_a = x @ w[pre + "kv_a_proj_with_mqa.weight"].T
    latent, k_pe = torch.split(kv_a, [dims.kv_rank, ROPE], dim=-1)
    k_pe = k_pe.view(B, t, 1, ROPE).transpose(1, 2)
    kv = (rms_norm(latent, w[pre + "kv_a_layernorm.weight"], EPS) @ w[pre + "kv_b_proj.weight"].T)
    kv = kv.view(B, t, H, NOPE + VD).transpose(1, 2)
    k_nope, value = torch.split(kv, [NOPE, VD], dim=-1)
    q_pe, k_pe = rotary(q_pe, positions, mode, dims), rotary(k_pe, positions, mode, dims)
    query = torch.cat([q_nope, q_pe], -1)
    key = torch.cat([k_nope, k_pe.expand(B, H, t, ROPE)], -1)
    scores = query @ key.transpose(-1, -2) / math.sqrt(NOPE + ROPE)  # softmax_scale = q_head_dim ** -0.5
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
    out = torch.softmax(scores.masked_fill(mask, float("-inf")), -1) @ value
    return out.transpose(1, 2).reshape(B, t, H * VD) @ w[pre + "o_proj.weight"].T


def swiglu(w, pre, x):
    return (torch.nn.functional.silu(x @ w[pre + "gate_proj.weight"].T) * (x @ w[pre + "up_proj.weight"].T)) @ w[pre + "down_proj.weight"].T


def moe(w, pre, x, dims):
    """DeepseekV3MoE: MoEGate (noaux_tc) + routed experts + shared experts."""
    B, t, d = x.shape
    E, GROUPS = dims.experts, dims.groups
    flat = x.reshape(-1, d)
    scores = (flat.float() @ w[pre + "gate.weight"].float().T).sigmoid()
    choice = scores + w[pre + "gate.e_score_correction_bias"][None, :]
    group_scores = choice.view(-1, GROUPS, E // GROUPS).topk(2, dim=-1)[0].sum(-1)
    group_idx = torch.topk(group_scores, k=dims.keep, dim=-1, sorted=False)[1]
    group_mask = torch.zeros_like(group_scores).scatter_(1, group_idx, 1)
    score_mask = group_mask.unsqueeze(-1).expand(-1, GROUPS, E // GROUPS).reshape(-1, E)
    choice = choice.masked_fill(~score_mask.bool(), 0.0)
    _, topk_idx = torch.topk(choice, k=dims.topk, dim=-1, sorted=False)
    weight = scores.gather(1, topk_idx)
    weight = weight / (weight.sum(-1, keepdim=True) + 1e-20) * dims.scale
    out = torch.zeros_like(flat)
    for e in range(E):
        rows, slot = (topk_idx == e).nonzero(as_tuple=True)
        if len(rows):
            out[rows] += weight[rows, slot, None] * swiglu(w, pre + f"experts.{e}.", flat[rows])
    if pre + "shared_experts.gate_proj.weight" in w:
        out = out + swiglu(w, pre + "shared_experts.", flat)
    return out.view(B, t, d)


def layer(w, l, x, positions, mode, dims):
    pre = f"model.layers.{l}."
    x = x + mla(w, pre + "self_attn.", rms_norm(x, w[pre + "input_layernorm.weight"], dims.eps), positions, mode, dims)
    h = rms_norm(x, w[pre + "post_attention_layernorm.weight"], dims.eps)
    return x + (swiglu(w, pre + "mlp.", h) if l < dims.first_dense else moe(w, pre + "mlp.", h, dims))


def forward(w, tokens, mode, dims, release_names):
    """Main logits [B, T, V] and, with an MTP module, its logits [B, T-1, V] (else None)."""
    B, t = tokens.shape
    L, EPS = dims.layers, dims.eps
    positions = torch.arange(t)
    head = w["model.embed_tokens.weight"] if dims.tied else w["lm_head.weight"]
    x = w["model.embed_tokens.weight"][tokens]
    for l in range(L):
        x = layer(w, l, x, positions, mode, dims)
    logits = rms_norm(x, w["model.norm.weight"], EPS) @ head.T
    if not dims.mtp:
        return logits, None
    mtp = f"model.layers.{L}."
    # The release carries the MTP module's own copies of the embedding and head; kiln shares the main ones.
    embed = w[mtp + "embed_tokens.weight"] if release_names else w["model.embed_tokens.weight"]
    mtp_head = w[mtp + "shared_head.head.weight"] if release_names else head
    joined = torch.cat([rms_norm(embed[tokens[:, 1:]], w[mtp + "enorm.weight"], EPS),
                        rms_norm(x[:, :-1], w[mtp + "hnorm.weight"], EPS)], -1)
    h = layer(w, L, joined @ w[mtp + "eh_proj.weight"].T, torch.arange(t - 1), mode, dims)
    return logits, rms_norm(h, w[mtp + "shared_head.norm.weight"], EPS) @ mtp_head.T


def main():
    kiln = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "kiln")
    out, meta = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in MODELS.items():
            cfg = kiln_config(spec["q_lora_rank"], spec["interleaved"])
            w = kiln_weights(spec["q_lora_rank"], spec["seed"])
            ckpt = os.path.join(tmp, name, "checkpoint")
            os.makedirs(ckpt)
            with open(os.path.join(ckpt, "config.json"), "w") as f:
                json.dump(cfg, f, indent=2)
            write_safetensors(os.path.join(ckpt, "model.safetensors"), w)
            exported = os.path.join(tmp, name, "hf")
            subprocess.run([kiln, "export", "hf", ckpt, "-o", exported], check=True)
            with open(os.path.join(exported, "config.json")) as f:
                hf_cfg = json.load(f)
            assert hf_cfg["architectures"] == ["DeepseekV3ForCausalLM"] and hf_cfg["rope_interleave"], hf_cfg
            hf_w = read_safetensors(os.path.join(exported, "model.safetensors"))
            tokens = torch.randint(0, V, (2, T), generator=torch.Generator().manual_seed(5))
            with torch.no_grad():
                theirs, theirs_mtp = forward(hf_w, tokens, "release", Dims(hf_cfg), True)
                ours, ours_mtp = forward(w, tokens, "interleaved" if spec["interleaved"] else "half", Dims(cfg), False)
            diff = max((theirs - ours).abs().max().item(), (theirs_mtp - ours_mtp).abs().max().item())
            print(f"{name}: max |DeepseekV3-definition logits of the export - kiln-definition logits| = {diff:.3g} "
                  f"(main and MTP; logits up to {theirs.abs().max().item():.2f})")
            assert diff < 1e-5, diff
            # What a wrong rotary layout would cost: the kiln-layout weights read as the release reads them.
            with torch.no_grad():
                unregrouped, _ = forward(w, tokens, "release", Dims(cfg), False)
            print(f"{name}: kiln's weights as they are, read as the release reads them: max |logit error| = "
                  f"{(unregrouped - ours).abs().max().item():.3g}")
            for n, p in w.items():
                out[f"{name}.kiln.{n}"] = p
            for n, p in hf_w.items():
                out[f"{name}.hf.{n}"] = p
            out[f"{name}.tokens"] = tokens
            out[f"{name}.logits"] = theirs
            out[f"{name}.mtp_logits"] = theirs_mtp
            meta[f"{name}.config"] = json.dumps(cfg)
    save("hf_deepseek_v3", out, meta)


if __name__ == "__main__":
    main()
