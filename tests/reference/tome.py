"""Golden data for ToMe (Token Merging, Bolya et al., arXiv 2210.09461) in
kiln's ViT, in f64. A port of facebookresearch/ToMe's bipartite_soft_matching
and merge_wavg (tome/merge.py) and of its timm patch (tome/patch/timm.py:
proportional attention adds ln(size) to the logits, tokens merge between
attention and MLP, the metric is the keys averaged over heads), with the two
choices kiln fixes so results are deterministic: sorts are stable, and the
unmerged tokens come out in ascending position (ToMe sorts them so only with
a class token, which every case here has).

  block_r{1,3,5,9}.*  one pre-LN block (d 16, 2 heads, MLP 32) on 2 sequences
      of 11 tokens (class token first) whose sizes come from earlier merges;
      r = 1, 3, 5 (the most 11 tokens allow) and 9 (clamped to 5): output,
      sizes, each token's destination, the metric, every gradient.
  vit_{cls,mean}.*  a ViT on 8×8 images, patch 2 (16 patches + class token),
      d 16, 2 blocks of 2 heads, MLP 32, 5 classes, r = [3, 2] (17 → 14 → 12
      tokens); class-token pooling, and the mean weighted by size (ToMe's
      global pool, tome/patch/mae.py); loss, logits, sizes, every gradient.

kiln holds the attention key bias in f32, so ln(size) is rounded to f32 here.
"""
import math

import torch
import torch.nn.functional as F

from golden import save

torch.set_default_dtype(torch.float64)
EPS = 1e-6
D, H, M = 16, 2, 32


def bipartite_soft_matching(metric, r, class_token):
    """Returns merge(x) (sums rows, ToMe's mode="sum"; None when nothing merges) and each token's destination
    [B, t] in the merged sequence."""
    B, t, _ = metric.shape
    r = min(r, (t - (1 if class_token else 0)) // 2)
    if r <= 0:
        return None, torch.arange(t).expand(B, t)
    with torch.no_grad():
        metric = metric / metric.norm(dim=-1, keepdim=True)
        a, b = metric[..., ::2, :], metric[..., 1::2, :]
        scores = a @ b.transpose(-1, -2)
        if class_token:
            scores[..., 0, :] = -math.inf
        node_max, node_idx = scores.max(dim=-1)  # ties: the first (smallest) b
        edge_idx = torch.sort(node_max, dim=-1, descending=True, stable=True)[1][..., None]
        unm_idx = edge_idx[..., r:, :].sort(dim=1)[0]  # unmerged A in ascending position
        check_margins(scores, node_max, edge_idx, r, class_token)
        src_idx = edge_idx[..., :r, :]
        dst_idx = node_idx[..., None].gather(dim=-2, index=src_idx)

    def merge(x):
        src, dst = x[..., ::2, :], x[..., 1::2, :]
        n, t1, c = src.shape
        unm = src.gather(dim=-2, index=unm_idx.expand(n, t1 - r, c))
        src = src.gather(dim=-2, index=src_idx.expand(n, r, c))
        dst = dst.scatter_add(-2, dst_idx.expand(n, r, c), src)
        return torch.cat([unm, dst], dim=1)

    unmerged = a.shape[1] - r
    destination = torch.empty(B, t, dtype=torch.int64)
    for n in range(B):
        for rank, i in enumerate(unm_idx[n, :, 0].tolist()):
            destination[n, 2 * i] = rank
        for i, j in zip(src_idx[n, :, 0].tolist(), dst_idx[n, :, 0].tolist()):
            destination[n, 2 * i] = unmerged + j
        for j in range(b.shape[1]):
            destination[n, 2 * j + 1] = unmerged + j
    return merge, destination


def check_margins(scores, node_max, edge_idx, r, class_token):
    """kiln's f32 model must make the same choices: no near-tie between a token's two best matches, nor between
    the last source and the first unmerged token."""
    first = 1 if class_token else 0
    top2 = scores[:, first:].topk(2, dim=-1).values
    ranked = node_max.gather(-1, edge_idx[..., 0])
    margin = min((top2[..., 0] - top2[..., 1]).min().item(), (ranked[:, r - 1] - ranked[:, r]).min().item())
    assert margin > 1e-4, f"near-tie in the matching (margin {margin:.2e}): pick another seed"


def merge_wavg(merge, x, size):
    if size is None:
        size = torch.ones_like(x[..., 0, None])
    x = merge(x * size)
    size = merge(size)
    return x / size, size


def block_params(g, pre):
    p = {}

    def add(name, *shape, kind="normal"):
        if kind == "ones":
            t = torch.ones(*shape) + 0.1 * torch.randn(*shape, generator=g)
        elif kind == "zeros":
            t = 0.1 * torch.randn(*shape, generator=g)
        else:
            t = 0.3 * torch.randn(*shape, generator=g)
        p[pre + name] = t.float().double().requires_grad_(True)

    add("layernorm_before.weight", D, kind="ones")
    add("layernorm_before.bias", D, kind="zeros")
    for proj in ("query", "key", "value"):
        add(f"attention.attention.{proj}.weight", D, D)
        add(f"attention.attention.{proj}.bias", D, kind="zeros")
    add("attention.output.dense.weight", D, D)
    add("attention.output.dense.bias", D, kind="zeros")
    add("layernorm_after.weight", D, kind="ones")
    add("layernorm_after.bias", D, kind="zeros")
    add("intermediate.dense.weight", M, D)
    add("intermediate.dense.bias", M, kind="zeros")
    add("output.dense.weight", D, M)
    add("output.dense.bias", D, kind="zeros")
    return p


def tome_block(p, pre, x, size, r):
    """Returns the block's output, the sizes [B, t', 1] (None while all are 1), destinations and the metric."""
    b, t, d = x.shape
    h = F.layer_norm(x, (d,), p[pre + "layernorm_before.weight"], p[pre + "layernorm_before.bias"], EPS)

    def proj(name):
        w = p[pre + f"attention.attention.{name}.weight"]
        bias = p[pre + f"attention.attention.{name}.bias"]
        return (h @ w.T + bias).view(b, t, H, d // H).transpose(1, 2)

    q, k, v = proj("query"), proj("key"), proj("value")
    logits = q @ k.transpose(-1, -2) / math.sqrt(d // H)
    if size is not None:  # proportional attention
        logits = logits + size.log().float().double()[:, None, None, :, 0]
    a = (torch.softmax(logits, -1) @ v).transpose(1, 2).reshape(b, t, d)
    x = x + a @ p[pre + "attention.output.dense.weight"].T + p[pre + "attention.output.dense.bias"]
    metric = k.mean(1).detach()
    merge, destination = bipartite_soft_matching(metric, r, True)
    if merge is not None:
        x, size = merge_wavg(merge, x, size)
    g = F.layer_norm(x, (d,), p[pre + "layernorm_after.weight"], p[pre + "layernorm_after.bias"], EPS)
    hid = F.gelu(g @ p[pre + "intermediate.dense.weight"].T + p[pre + "intermediate.dense.bias"])
    return x + hid @ p[pre + "output.dense.weight"].T + p[pre + "output.dense.bias"], size, destination, metric


def block_cases(out):
    g = torch.Generator().manual_seed(17)
    params = block_params(g, "")
    B, T = 2, 11
    x0 = torch.randn(B, T, D, generator=g)
    sizes = torch.randint(1, 5, (B, T), generator=g).double()
    sizes[:, 0] = 1  # the class token is never merged
    out["block.x"] = x0
    out["block.sizes"] = sizes
    for name, value in params.items():
        out["block.param." + name] = value
    for r in (1, 3, 5, 9):
        p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        x = x0.clone().requires_grad_(True)
        y, size, destination, metric = tome_block(p, "", x, sizes[..., None], r)
        dout = torch.randn(*y.shape, generator=g)
        y.backward(dout)
        case = f"block_r{r}."
        out[case + "out"] = y
        out[case + "sizes"] = size[..., 0]
        out[case + "destination"] = destination
        out[case + "metric"] = metric
        out[case + "dout"] = dout
        out[case + "grad.x"] = x.grad
        for name, value in p.items():
            out[case + "grad." + name] = value.grad


def vit_case(out, name, mean_pool):
    g = torch.Generator().manual_seed(23)
    S, P, K, L = 8, 2, 5, 2
    G = S // P
    N = G * G
    R = [3, 2]
    p = {}

    def add(key, *shape, scale=0.3):
        p[key] = (scale * torch.randn(*shape, generator=g)).float().double().requires_grad_(True)

    add("vit.embeddings.cls_token", 1, 1, D)
    add("vit.embeddings.position_embeddings", 1, N + 1, D)
    add("vit.embeddings.patch_embeddings.projection.weight", D, 1, P, P)
    add("vit.embeddings.patch_embeddings.projection.bias", D, scale=0.1)
    for l in range(L):
        p.update(block_params(g, f"vit.encoder.layer.{l}."))
    p["vit.layernorm.weight"] = (torch.ones(D) + 0.1 * torch.randn(D, generator=g)).float().double().requires_grad_(True)
    add("vit.layernorm.bias", D, scale=0.1)
    add("classifier.weight", K, D)
    add("classifier.bias", K, scale=0.1)
    images = torch.randn(3, 1, S, S, generator=g).float().double()
    labels = torch.tensor([0, 3, 4])
    pos = p["vit.embeddings.position_embeddings"]
    x = F.conv2d(images, p["vit.embeddings.patch_embeddings.projection.weight"],
                 p["vit.embeddings.patch_embeddings.projection.bias"], stride=P)
    x = x.flatten(2).transpose(1, 2) + pos[:, 1:]
    cls = (p["vit.embeddings.cls_token"] + pos[:, :1]).expand(3, -1, -1)
    x = torch.cat([cls, x], 1)
    size = None
    for l in range(L):
        x, size, _, _ = tome_block(p, f"vit.encoder.layer.{l}.", x, size, R[l])
    x = F.layer_norm(x, (D,), p["vit.layernorm.weight"], p["vit.layernorm.bias"], EPS)
    if mean_pool:
        features = (x * size)[:, 1:, :].sum(dim=1) / N  # tome/patch/mae.py: Σ size = N patches
    else:
        features = x[:, 0]
    logits = features @ p["classifier.weight"].T + p["classifier.bias"]
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    out[name + "images"] = images
    out[name + "labels"] = labels
    out[name + "logits"] = logits
    out[name + "loss"] = loss
    out[name + "sizes"] = size[..., 0]
    for key, value in p.items():
        out[name + "param." + key] = value
        out[name + "grad." + key] = value.grad


tensors = {}
block_cases(tensors)
vit_case(tensors, "vit_cls.", False)
vit_case(tensors, "vit_mean.", True)
save("tome", tensors, {"torch": torch.__version__, "script": "tests/reference/tome.py"})
