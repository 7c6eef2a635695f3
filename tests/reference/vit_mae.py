"""Golden data for ViT (Dosovitskiy et al., arXiv 2010.11929) and MAE
(He et al., arXiv 2111.06377), written out by hand in PyTorch 1.13 with
Hugging Face ViT / ViTMAE parameter names:
  vit.*  a ViT on 8×8 single-channel images, patch 4 (4 patches + class
         token), d 16, 2 pre-LN blocks, 2 heads, MLP 32, 5 classes, learned
         positions; cross-entropy loss and every gradient.
  mae.*  the same encoder with fixed 2D sin-cos positions, a decoder of
         width 8 (1 block, 2 heads, MLP 16), mask ratio 0.5 from saved noise;
         loss on plain pixels (mae.loss) and with norm_pix (mae.norm_loss),
         gradients of the plain one.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from golden import save

torch.manual_seed(0)
B, C, S, P, D, L, H, M, K = 3, 1, 8, 4, 16, 2, 2, 32, 5
G = S // P
N = G * G
DD, DL, DH, DM = 8, 1, 2, 16
EPS = 1e-6


def params_block(p, g, pre, d, m):
    def add(name, *shape, kind="normal"):
        if kind == "ones":
            t = torch.ones(*shape) + 0.1 * torch.randn(*shape, generator=g)
        elif kind == "zeros":
            t = 0.1 * torch.randn(*shape, generator=g)
        else:
            t = 0.3 * torch.randn(*shape, generator=g)
        p[pre + name] = t.requires_grad_(True)

    add("layernorm_before.weight", d, kind="ones")
    add("layernorm_before.bias", d, kind="zeros")
    for proj in ("query", "key", "value"):
        add(f"attention.attention.{proj}.weight", d, d)
        add(f"attention.attention.{proj}.bias", d, kind="zeros")
    add("attention.output.dense.weight", d, d)
    add("attention.output.dense.bias", d, kind="zeros")
    add("layernorm_after.weight", d, kind="ones")
    add("layernorm_after.bias", d, kind="zeros")
    add("intermediate.dense.weight", m, d)
    add("intermediate.dense.bias", m, kind="zeros")
    add("output.dense.weight", d, m)
    add("output.dense.bias", d, kind="zeros")


def block(p, pre, x, heads):
    b, t, d = x.shape
    h = F.layer_norm(x, (d,), p[pre + "layernorm_before.weight"], p[pre + "layernorm_before.bias"], EPS)

    def proj(name):
        w = p[pre + f"attention.attention.{name}.weight"]
        bias = p[pre + f"attention.attention.{name}.bias"]
        return (h @ w.T + bias).view(b, t, heads, d // heads).transpose(1, 2)

    q, k, v = proj("query"), proj("key"), proj("value")
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // heads), -1) @ v
    a = a.transpose(1, 2).reshape(b, t, d)
    x = x + a @ p[pre + "attention.output.dense.weight"].T + p[pre + "attention.output.dense.bias"]
    g = F.layer_norm(x, (d,), p[pre + "layernorm_after.weight"], p[pre + "layernorm_after.bias"], EPS)
    hid = F.gelu(g @ p[pre + "intermediate.dense.weight"].T + p[pre + "intermediate.dense.bias"])
    return x + hid @ p[pre + "output.dense.weight"].T + p[pre + "output.dense.bias"]


def sincos(dim, grid):
    # facebookresearch/mae util/pos_embed.py: first half the column, second half the row; row 0 (class token) zero.
    quarter = dim // 4
    omega = 1.0 / 10000 ** (np.arange(quarter) / quarter)
    table = np.zeros((1 + grid * grid, dim))
    for r in range(grid):
        for c in range(grid):
            t = 1 + r * grid + c
            table[t, :quarter] = np.sin(c * omega)
            table[t, quarter:2 * quarter] = np.cos(c * omega)
            table[t, 2 * quarter:3 * quarter] = np.sin(r * omega)
            table[t, 3 * quarter:] = np.cos(r * omega)
    return torch.tensor(table, dtype=torch.float32)[None]


def encoder_params(g, learned_positions, classes):
    p = {}
    p["vit.embeddings.cls_token"] = (0.3 * torch.randn(1, 1, D, generator=g)).requires_grad_(True)
    if learned_positions:
        p["vit.embeddings.position_embeddings"] = (0.3 * torch.randn(1, N + 1, D, generator=g)).requires_grad_(True)
    p["vit.embeddings.patch_embeddings.projection.weight"] = (0.3 * torch.randn(D, C, P, P, generator=g)).requires_grad_(True)
    p["vit.embeddings.patch_embeddings.projection.bias"] = (0.1 * torch.randn(D, generator=g)).requires_grad_(True)
    for l in range(L):
        params_block(p, g, f"vit.encoder.layer.{l}.", D, M)
    p["vit.layernorm.weight"] = (torch.ones(D) + 0.1 * torch.randn(D, generator=g)).requires_grad_(True)
    p["vit.layernorm.bias"] = (0.1 * torch.randn(D, generator=g)).requires_grad_(True)
    if classes:
        p["classifier.weight"] = (0.3 * torch.randn(classes, D, generator=g)).requires_grad_(True)
        p["classifier.bias"] = (0.1 * torch.randn(classes, generator=g)).requires_grad_(True)
    return p


def patch_tokens(p, images, pos):
    x = F.conv2d(images, p["vit.embeddings.patch_embeddings.projection.weight"],
                 p["vit.embeddings.patch_embeddings.projection.bias"], stride=P)
    return x.flatten(2).transpose(1, 2) + pos[:, 1:]


def encode(p, tokens, pos):
    b = tokens.shape[0]
    cls = (p["vit.embeddings.cls_token"] + pos[:, :1]).expand(b, -1, -1)
    x = torch.cat([cls, tokens], 1)
    for l in range(L):
        x = block(p, f"vit.encoder.layer.{l}.", x, H)
    return F.layer_norm(x, (D,), p["vit.layernorm.weight"], p["vit.layernorm.bias"], EPS)


def vit_case():
    g = torch.Generator().manual_seed(5)
    p = encoder_params(g, True, K)
    images = torch.randn(B, C, S, S, generator=g)
    labels = torch.tensor([0, 3, 4])
    pos = p["vit.embeddings.position_embeddings"]
    x = encode(p, patch_tokens(p, images, pos), pos)
    logits = x[:, 0] @ p["classifier.weight"].T + p["classifier.bias"]
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    out = {"images": images, "labels": labels, "loss": loss, "logits": logits}
    for k, v in p.items():
        out["param." + k] = v
        out["grad." + k] = v.grad
    return {"vit." + k: v for k, v in out.items()}


def patchify(images):
    b = images.shape[0]
    x = images.reshape(b, C, G, P, G, P).permute(0, 2, 4, 3, 5, 1)  # n, r, c, i, j, ch
    return x.reshape(b, N, P * P * C)


def mae_case():
    g = torch.Generator().manual_seed(6)
    p = encoder_params(g, False, 0)
    dec = {}
    dec["decoder.decoder_embed.weight"] = (0.3 * torch.randn(DD, D, generator=g)).requires_grad_(True)
    dec["decoder.decoder_embed.bias"] = (0.1 * torch.randn(DD, generator=g)).requires_grad_(True)
    dec["decoder.mask_token"] = (0.3 * torch.randn(1, 1, DD, generator=g)).requires_grad_(True)
    for l in range(DL):
        params_block(dec, g, f"decoder.decoder_layers.{l}.", DD, DM)
    dec["decoder.decoder_norm.weight"] = (torch.ones(DD) + 0.1 * torch.randn(DD, generator=g)).requires_grad_(True)
    dec["decoder.decoder_norm.bias"] = (0.1 * torch.randn(DD, generator=g)).requires_grad_(True)
    dec["decoder.decoder_pred.weight"] = (0.3 * torch.randn(P * P * C, DD, generator=g)).requires_grad_(True)
    dec["decoder.decoder_pred.bias"] = (0.1 * torch.randn(P * P * C, generator=g)).requires_grad_(True)
    p.update(dec)
    images = torch.randn(B, C, S, S, generator=g)
    noise = torch.rand(B, N, generator=g)
    keep = int(N * (1 - 0.5))
    pos, dpos = sincos(D, G), sincos(DD, G)

    def loss_of(norm_pix):
        x = patch_tokens(p, images, pos)
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :keep]
        vis = torch.gather(x, 1, ids_keep[..., None].expand(-1, -1, D))
        mask = torch.ones(B, N)
        mask[:, :keep] = 0
        mask = torch.gather(mask, 1, ids_restore)
        latent = encode(p, vis, pos)
        y = latent @ p["decoder.decoder_embed.weight"].T + p["decoder.decoder_embed.bias"]
        tokens = torch.cat([y[:, 1:], p["decoder.mask_token"].expand(B, N - keep, -1)], 1)
        tokens = torch.gather(tokens, 1, ids_restore[..., None].expand(-1, -1, DD))
        z = torch.cat([y[:, :1], tokens], 1) + dpos
        for l in range(DL):
            z = block(p, f"decoder.decoder_layers.{l}.", z, DH)
        z = F.layer_norm(z, (DD,), p["decoder.decoder_norm.weight"], p["decoder.decoder_norm.bias"], EPS)
        pred = (z @ p["decoder.decoder_pred.weight"].T + p["decoder.decoder_pred.bias"])[:, 1:]
        target = patchify(images)
        if norm_pix:
            mean = target.mean(-1, keepdim=True)
            var = target.var(-1, keepdim=True)
            target = (target - mean) / (var + 1e-6) ** 0.5
        per_patch = ((pred - target) ** 2).mean(-1)
        return (per_patch * mask).sum() / mask.sum(), mask

    norm_loss, _ = loss_of(True)
    loss, mask = loss_of(False)
    loss.backward()
    out = {"images": images, "noise": noise, "mask": mask, "loss": loss, "norm_loss": norm_loss.detach(),
           "patchified": patchify(images), "sincos": pos[0]}
    for k, v in p.items():
        out["param." + k] = v
        out["grad." + k] = v.grad
    return {"mae." + k: v for k, v in out.items()}


tensors = {}
tensors.update(vit_case())
tensors.update(mae_case())
save("vit_mae", tensors)
