"""Golden data for BERT (Devlin et al., arXiv 1810.04805; google-research/bert
modeling.py), written out by hand in PyTorch 1.13 with Hugging Face BERT
parameter names: vocabulary 30, width 16, 2 post-LN layers of 2 heads, FFN
32, LayerNorm ε 1e-12, erf GELU, dropout off. A batch of 2 sequences of 8
with segments and one padded row (padded keys are masked out); masked-LM
loss over the positions whose label is not −100 (head: dense + GELU +
LayerNorm, decoder tied to the word embeddings) and a 3-class classifier on
the tanh pooler; every gradient of each loss.
"""
import math

import torch
import torch.nn.functional as F

from golden import save

V, H, L, A, FF, MAXPOS, K = 30, 16, 2, 2, 32, 16, 3
EPS = 1e-12
g = torch.Generator().manual_seed(7)
p = {}


def add(name, *shape, kind="normal"):
    if kind == "ones":
        t = torch.ones(*shape) + 0.1 * torch.randn(*shape, generator=g)
    elif kind == "zeros":
        t = 0.1 * torch.randn(*shape, generator=g)
    else:
        t = 0.3 * torch.randn(*shape, generator=g)
    p[name] = t.requires_grad_(True)


add("bert.embeddings.word_embeddings.weight", V, H)
add("bert.embeddings.position_embeddings.weight", MAXPOS, H)
add("bert.embeddings.token_type_embeddings.weight", 2, H)
add("bert.embeddings.LayerNorm.weight", H, kind="ones")
add("bert.embeddings.LayerNorm.bias", H, kind="zeros")
for l in range(L):
    pre = f"bert.encoder.layer.{l}."
    for proj in ("query", "key", "value"):
        add(pre + f"attention.self.{proj}.weight", H, H)
        add(pre + f"attention.self.{proj}.bias", H, kind="zeros")
    add(pre + "attention.output.dense.weight", H, H)
    add(pre + "attention.output.dense.bias", H, kind="zeros")
    add(pre + "attention.output.LayerNorm.weight", H, kind="ones")
    add(pre + "attention.output.LayerNorm.bias", H, kind="zeros")
    add(pre + "intermediate.dense.weight", FF, H)
    add(pre + "intermediate.dense.bias", FF, kind="zeros")
    add(pre + "output.dense.weight", H, FF)
    add(pre + "output.dense.bias", H, kind="zeros")
    add(pre + "output.LayerNorm.weight", H, kind="ones")
    add(pre + "output.LayerNorm.bias", H, kind="zeros")
add("bert.pooler.dense.weight", H, H)
add("bert.pooler.dense.bias", H, kind="zeros")
add("cls.predictions.transform.dense.weight", H, H)
add("cls.predictions.transform.dense.bias", H, kind="zeros")
add("cls.predictions.transform.LayerNorm.weight", H, kind="ones")
add("cls.predictions.transform.LayerNorm.bias", H, kind="zeros")
add("cls.predictions.bias", V, kind="zeros")
add("classifier.weight", K, H)
add("classifier.bias", K, kind="zeros")

tokens = torch.tensor([[2, 5, 9, 4, 11, 3, 7, 3], [2, 8, 6, 3, 0, 0, 0, 0]])
segments = torch.tensor([[0, 0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0]])
attention = torch.tensor([[1] * 8, [1, 1, 1, 1, 0, 0, 0, 0]], dtype=torch.uint8)
labels = torch.full((2, 8), -100)
labels[0, 1], labels[0, 4], labels[1, 2] = 12, 4, 25
classes = torch.tensor([2, 0])


def ln(x, name):
    return F.layer_norm(x, (H,), p[name + ".weight"], p[name + ".bias"], EPS)


def encode():
    b, n = tokens.shape
    pos = torch.arange(n)[None].expand(b, n)
    x = (p["bert.embeddings.word_embeddings.weight"][tokens] + p["bert.embeddings.position_embeddings.weight"][pos]
         + p["bert.embeddings.token_type_embeddings.weight"][segments])
    x = ln(x, "bert.embeddings.LayerNorm")
    mask = (1.0 - attention.float())[:, None, None, :] * -1e30
    for l in range(L):
        pre = f"bert.encoder.layer.{l}."

        def proj(name):
            y = x @ p[pre + f"attention.self.{name}.weight"].T + p[pre + f"attention.self.{name}.bias"]
            return y.view(b, n, A, H // A).transpose(1, 2)

        q, k, v = proj("query"), proj("key"), proj("value")
        s = q @ k.transpose(-1, -2) / math.sqrt(H // A) + mask
        c = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(b, n, H)
        att = c @ p[pre + "attention.output.dense.weight"].T + p[pre + "attention.output.dense.bias"]
        x = ln(att + x, pre + "attention.output.LayerNorm")
        f = F.gelu(x @ p[pre + "intermediate.dense.weight"].T + p[pre + "intermediate.dense.bias"])
        o = f @ p[pre + "output.dense.weight"].T + p[pre + "output.dense.bias"]
        x = ln(o + x, pre + "output.LayerNorm")
    return x


out = {"tokens": tokens, "segments": segments, "attention": attention, "labels": labels, "classes": classes}
for k, v in p.items():
    out["param." + k] = v

x = encode()
t = F.gelu(x @ p["cls.predictions.transform.dense.weight"].T + p["cls.predictions.transform.dense.bias"])
t = ln(t, "cls.predictions.transform.LayerNorm")
logits = t @ p["bert.embeddings.word_embeddings.weight"].T + p["cls.predictions.bias"]
mlm = F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=-100)
mlm.backward()
out["mlm_loss"] = mlm
out["hidden"] = x
for k, v in p.items():
    if v.grad is not None:
        out["mlm_grad." + k] = v.grad.clone()
        v.grad = None

x = encode()
pooled = torch.tanh(x[:, 0] @ p["bert.pooler.dense.weight"].T + p["bert.pooler.dense.bias"])
cls_logits = pooled @ p["classifier.weight"].T + p["classifier.bias"]
cls_loss = F.cross_entropy(cls_logits, classes)
cls_loss.backward()
out["cls_logits"] = cls_logits
out["cls_loss"] = cls_loss
for k, v in p.items():
    if v.grad is not None:
        out["cls_grad." + k] = v.grad.clone()
save("bert", out)
