"""Golden data for the DeepSeek-V3 additions to the decoder: multi-head latent
attention, DeepSeekMoE (sigmoid routing with bias, group limits, shared
experts, sequence-wise balance loss) and one multi-token-prediction module.

Written out by hand from the DeepSeek-V2 (arXiv 2405.04434) and DeepSeek-V3
(arXiv 2412.19437) reports (MLA naive form, MoE token by token in a plain
loop, MTP with the embedding first in the concatenation, as in the released
V3 weights), with Hugging Face DeepSeek-V3 parameter names and kiln's
[out, in] layout. Cases:
  mla.*   MLA (q compression) + dense SwiGLU, dense batch [2, 10]
  moe.*   GQA attention + MoE in layer 1, non-zero routing bias, dense batch
  full.*  MLA + MoE + MTP (D = 1, λ = 0.3), three documents packed in one row
Saved per case: param.<name>, tokens, targets (positions, cu_seqlens when
packed), loss (= main CE + λ·MTP CE + Σ balance losses), main_loss,
mtp_loss, balance_loss, grad.<name>.
"""
import math

import torch

from golden import save, rms_norm, rope

V, D, L, H, T = 40, 32, 2, 4, 10
FFN = 48
Q_LORA, KV_LORA, NOPE, ROPE, DV = 24, 16, 8, 4, 6
E, G, TOPG, K, SHARED, EXPERT, SCALE, ALPHA = 8, 4, 2, 2, 1, 16, 2.5, 0.01
EPS, THETA, LAMBDA = 1e-6, 10000.0, 0.3


def attention(q, k, v, spans, scale):
    B, T_, Hq, _ = q.shape
    group = Hq // k.shape[2]
    k = k.repeat_interleave(group, dim=2)
    v = v.repeat_interleave(group, dim=2)
    scores = torch.einsum("bthd,bshd->bhts", q, k) * scale
    mask = torch.full((B, T_, T_), float("-inf"))
    for b, row in enumerate(spans):
        for s, e in row:
            for i in range(s, e):
                mask[b, i, s:i + 1] = 0
    p = torch.softmax(scores + mask[:, None], -1)
    return torch.einsum("bhts,bshd->bthd", p, v)


class Model:
    def __init__(self, mla, moe, mtp, seed):
        self.mla, self.moe, self.mtp = mla, moe, mtp
        self.g = torch.Generator().manual_seed(seed)
        self.p = {}
        self.add("model.embed_tokens.weight", V, D)
        for l in range(L):
            self.block_params(l)
        self.add("model.norm.weight", D, kind="ones")
        self.add("lm_head.weight", V, D)
        if mtp:
            pre = f"model.layers.{L}."
            self.add(pre + "enorm.weight", D, kind="ones")
            self.add(pre + "hnorm.weight", D, kind="ones")
            self.add(pre + "eh_proj.weight", D, 2 * D)
            self.block_params(L)
            self.add(pre + "shared_head.norm.weight", D, kind="ones")

    def add(self, name, *shape, kind="normal"):
        if kind == "ones":
            t = torch.ones(*shape) + 0.1 * torch.randn(*shape, generator=self.g)
        elif kind == "bias":
            t = 0.05 * torch.randn(*shape, generator=self.g)
        else:
            t = 0.2 * torch.randn(*shape, generator=self.g)
        self.p[name] = t.requires_grad_(kind != "bias")

    def is_moe(self, layer):
        return self.moe and layer >= 1

    def block_params(self, l):
        pre = f"model.layers.{l}."
        self.add(pre + "input_layernorm.weight", D, kind="ones")
        if self.mla:
            self.add(pre + "self_attn.q_a_proj.weight", Q_LORA, D)
            self.add(pre + "self_attn.q_a_layernorm.weight", Q_LORA, kind="ones")
            self.add(pre + "self_attn.q_b_proj.weight", H * (NOPE + ROPE), Q_LORA)
            self.add(pre + "self_attn.kv_a_proj_with_mqa.weight", KV_LORA + ROPE, D)
            self.add(pre + "self_attn.kv_a_layernorm.weight", KV_LORA, kind="ones")
            self.add(pre + "self_attn.kv_b_proj.weight", H * (NOPE + DV), KV_LORA)
            self.add(pre + "self_attn.o_proj.weight", D, H * DV)
        else:
            dh = D // H
            self.add(pre + "self_attn.q_proj.weight", D, D)
            self.add(pre + "self_attn.k_proj.weight", 2 * dh, D)
            self.add(pre + "self_attn.v_proj.weight", 2 * dh, D)
            self.add(pre + "self_attn.o_proj.weight", D, D)
        self.add(pre + "post_attention_layernorm.weight", D, kind="ones")
        if self.is_moe(l):
            self.add(pre + "mlp.gate.weight", E, D)
            self.add(pre + "mlp.gate.e_score_correction_bias", E, kind="bias")
            for i in range(E):
                for proj, shape in (("gate_proj", (EXPERT, D)), ("up_proj", (EXPERT, D)), ("down_proj", (D, EXPERT))):
                    self.add(f"{pre}mlp.experts.{i}.{proj}.weight", *shape)
            for proj, shape in (("gate_proj", (SHARED * EXPERT, D)), ("up_proj", (SHARED * EXPERT, D)),
                                ("down_proj", (D, SHARED * EXPERT))):
                self.add(f"{pre}mlp.shared_experts.{proj}.weight", *shape)
        else:
            self.add(pre + "mlp.gate_proj.weight", FFN, D)
            self.add(pre + "mlp.up_proj.weight", FFN, D)
            self.add(pre + "mlp.down_proj.weight", D, FFN)

    def swiglu(self, pre, x):
        p = self.p
        gate = x @ p[pre + "gate_proj.weight"].T
        return (torch.nn.functional.silu(gate) * (x @ p[pre + "up_proj.weight"].T)) @ p[pre + "down_proj.weight"].T

    def mla_attention(self, pre, x, pos, spans):
        p = self.p
        B, T_, _ = x.shape
        cq = rms_norm(x @ p[pre + "q_a_proj.weight"].T, p[pre + "q_a_layernorm.weight"], EPS)
        q = (cq @ p[pre + "q_b_proj.weight"].T).view(B, T_, H, NOPE + ROPE)
        q_nope, q_pe = q[..., :NOPE], rope(q[..., NOPE:], pos, THETA, True)
        a = x @ p[pre + "kv_a_proj_with_mqa.weight"].T
        c = rms_norm(a[..., :KV_LORA], p[pre + "kv_a_layernorm.weight"], EPS)
        k_pe = rope(a[..., KV_LORA:].reshape(B, T_, 1, ROPE), pos, THETA, True)
        kv = (c @ p[pre + "kv_b_proj.weight"].T).view(B, T_, H, NOPE + DV)
        k = torch.cat([kv[..., :NOPE], k_pe.expand(B, T_, H, ROPE)], -1)
        qq = torch.cat([q_nope, q_pe], -1)
        o = attention(qq, k, kv[..., NOPE:], spans, 1 / math.sqrt(NOPE + ROPE))
        return o.reshape(B, T_, H * DV) @ p[pre + "o_proj.weight"].T

    def gqa_attention(self, pre, x, pos, spans):
        p = self.p
        B, T_, _ = x.shape
        dh = D // H
        q = rope((x @ p[pre + "q_proj.weight"].T).view(B, T_, H, dh), pos, THETA, True)
        k = rope((x @ p[pre + "k_proj.weight"].T).view(B, T_, 2, dh), pos, THETA, True)
        v = (x @ p[pre + "v_proj.weight"].T).view(B, T_, 2, dh)
        return attention(q, k, v, spans, 1 / math.sqrt(dh)).reshape(B, T_, D) @ p[pre + "o_proj.weight"].T

    def moe_layer(self, pre, x, balance):
        p = self.p
        B, T_, _ = x.shape
        u = x.reshape(-1, D)
        s = torch.sigmoid(u @ p[pre + "gate.weight"].T)
        z = (s + p[pre + "gate.e_score_correction_bias"]).detach()
        group_scores = z.view(-1, G, E // G).topk(2, -1).values.sum(-1)
        keep = group_scores.topk(TOPG, -1).indices
        group_mask = torch.full_like(group_scores, float("-inf")).scatter(1, keep, 0.0)
        z = z + group_mask.repeat_interleave(E // G, dim=1)
        chosen = z.topk(K, -1).indices
        sel = s.gather(1, chosen)
        gates = sel / sel.sum(-1, keepdim=True) * SCALE
        rows = []
        for t in range(u.shape[0]):
            acc = self.swiglu(pre + "shared_experts.", u[t:t + 1])
            for j in range(K):
                e = int(chosen[t, j])
                acc = acc + gates[t, j] * self.swiglu(f"{pre}experts.{e}.", u[t:t + 1])
            rows.append(acc)
        counts = torch.zeros(B, E)
        for t in range(u.shape[0]):
            for j in range(K):
                counts[t // T_, int(chosen[t, j])] += 1
        f = counts * E / (K * T_)
        P = (s / s.sum(-1, keepdim=True)).view(B, T_, E).mean(1)
        balance.append(ALPHA * (f * P).sum() / B)
        return torch.cat(rows).view(B, T_, D)

    def block(self, l, x, pos, spans, balance):
        p = self.p
        pre = f"model.layers.{l}."
        h_in = rms_norm(x, p[pre + "input_layernorm.weight"], EPS)
        attn = self.mla_attention if self.mla else self.gqa_attention
        h = x + attn(pre + "self_attn.", h_in, pos, spans)
        f_in = rms_norm(h, p[pre + "post_attention_layernorm.weight"], EPS)
        ffn = self.moe_layer(pre + "mlp.", f_in, balance) if self.is_moe(l) else self.swiglu(pre + "mlp.", f_in)
        return h + ffn

    def loss(self, tokens, targets, pos, spans):
        p = self.p
        balance = []
        x = p["model.embed_tokens.weight"][tokens]
        for l in range(L):
            x = self.block(l, x, pos, spans, balance)
        logits = rms_norm(x, p["model.norm.weight"], EPS) @ p["lm_head.weight"].T
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100)
        total, mtp_ce = ce, torch.tensor(0.0)
        if self.mtp:
            B, T_ = tokens.shape
            shifted_tokens = torch.zeros_like(tokens)
            shifted_targets = torch.full_like(targets, -100)
            for b, row in enumerate(spans):
                for s, e in row:
                    for i in range(s, e - 1):  # depth 1: token i+1 must lie in the same document
                        shifted_tokens[b, i] = tokens[b, i + 1]
                        shifted_targets[b, i] = targets[b, i + 1]
            pre = f"model.layers.{L}."
            joined = torch.cat([rms_norm(p["model.embed_tokens.weight"][shifted_tokens], p[pre + "enorm.weight"], EPS),
                                rms_norm(x, p[pre + "hnorm.weight"], EPS)], -1)
            h = self.block(L, joined @ p[pre + "eh_proj.weight"].T, pos, spans, balance)
            mtp_logits = rms_norm(h, p[pre + "shared_head.norm.weight"], EPS) @ p["lm_head.weight"].T
            mtp_ce = torch.nn.functional.cross_entropy(mtp_logits.reshape(-1, V), shifted_targets.reshape(-1),
                                                       ignore_index=-100)
            total = total + LAMBDA * mtp_ce
        bal = sum(balance) if balance else torch.tensor(0.0)
        return total + bal, ce, mtp_ce, bal


def run(name, model, tokens, targets, pos, spans, extra):
    loss, ce, mtp_ce, bal = model.loss(tokens, targets, pos, spans)
    loss.backward()
    out = dict(extra)
    out.update({"tokens": tokens, "targets": targets, "loss": loss, "main_loss": ce, "mtp_loss": mtp_ce,
                "balance_loss": bal})
    for k, v in model.p.items():
        out["param." + k] = v
        if v.grad is not None:
            out["grad." + k] = v.grad
    return {f"{name}.{k}": v for k, v in out.items()}


def main():
    torch.manual_seed(0)
    tensors = {}
    dense_tokens = torch.randint(0, V, (2, T))
    dense_targets = torch.randint(0, V, (2, T))
    dense_targets[0, 3] = -100
    dense_pos = torch.arange(T).repeat(2, 1)
    dense_spans = [[(0, T)], [(0, T)]]
    tensors.update(run("mla", Model(True, False, False, 11), dense_tokens, dense_targets, dense_pos, dense_spans, {}))
    tensors.update(run("moe", Model(False, True, False, 12), dense_tokens, dense_targets, dense_pos, dense_spans, {}))
    # three documents of 5, 8 and 7 tokens packed into one row of 20
    lengths = [5, 8, 7]
    n = sum(lengths)
    packed_tokens = torch.randint(0, V, (1, n))
    packed_targets = torch.randint(0, V, (1, n))
    packed_targets[0, 9] = -100
    bounds = [0]
    for length in lengths:
        bounds.append(bounds[-1] + length)
    packed_pos = torch.cat([torch.arange(length) for length in lengths])[None]
    spans = [[(bounds[i], bounds[i + 1]) for i in range(len(lengths))]]
    extra = {"positions": packed_pos, "cu_seqlens": torch.tensor(bounds, dtype=torch.int32)}
    tensors.update(run("full", Model(True, True, True, 13), packed_tokens, packed_targets, packed_pos, spans, extra))
    save("deepseek", tensors)


if __name__ == "__main__":
    main()
