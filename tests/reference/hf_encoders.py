"""Golden data for `kiln export hf` of BERT, ViT and MAE runs: does the
exported folder compute, the way transformers defines BertForMaskedLM /
BertForSequenceClassification, ViTForImageClassification and
ViTMAEForPreTraining, what kiln computes?

    /usr/bin/python3 tests/reference/hf_encoders.py [path/to/kiln]   (default build/kiln)

For each model the script draws random weights with kiln's parameter names,
writes a kiln model folder (config.json in kiln's fields, model.safetensors,
vocab.txt for BERT), runs `kiln export hf` on it, reads the exported folder
with its own loader (no transformers here) and runs the model from the
folder's config.json and tensors only, as transformers' modeling code does:
  BERT  word + position + token-type embeddings, LayerNorm; post-LN layers
        (additive mask (1 − mask)·finfo.min, erf GELU); the MLM head
        (dense, GELU, LayerNorm, decoder tied to the word embeddings + bias,
        the decoder tied because tie_word_embeddings and no decoder tensor);
        the pooler (tanh) and classifier for the classification model;
  ViT   Conv2d patch embedding (stride = patch), [CLS] + positions, pre-LN
        layers, final LayerNorm, classifier on [CLS];
  MAE   the same encoder over the patches random_masking keeps for the given
        noise (argsort, len_keep = int(N·(1 − mask_ratio))), the decoder with
        mask tokens, ids_restore, decoder_pos_embed, decoder_pred; the loss on
        per-patch normalised pixels (unbiased variance, + 1e-6) over masked
        patches.
Saved to tests/data/reference/hf_encoders.safetensors: per model <m>
(bert, bert_cls, vit, mae) <m>.kiln.<name> and <m>.hf.<name>, the inputs and
outputs (bert.hidden [B, L, H], bert.mlm_loss with bert.labels; bert_cls.logits;
vit.logits; mae.pred, mae.loss, mae.mask with mae.noise), and metadata
<m>.config (the kiln config.json) and bert.vocab.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

from golden import save
from hf_export import read_safetensors, write_safetensors

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "lord", "god", "said", "and", "un", "##to", "moses",
         ",", ".", "in", "beginning", "light", "was", "there", "be", "let", "of", "heaven", "earth", "##s"]


def gen(seed):
    return torch.Generator().manual_seed(seed)


def add_layer(p, g, pre, d, m, bert):
    def add(name, *shape, around=0.0, scale=0.2):
        p[pre + name] = around + scale * torch.randn(*shape, generator=g)

    if not bert:
        add("layernorm_before.weight", d, around=1.0, scale=0.1)
        add("layernorm_before.bias", d, scale=0.1)
    for proj in ("query", "key", "value"):
        add(f"attention.{'self' if bert else 'attention'}.{proj}.weight", d, d)
        add(f"attention.{'self' if bert else 'attention'}.{proj}.bias", d, scale=0.1)
    add("attention.output.dense.weight", d, d)
    add("attention.output.dense.bias", d, scale=0.1)
    if bert:
        add("attention.output.LayerNorm.weight", d, around=1.0, scale=0.1)
        add("attention.output.LayerNorm.bias", d, scale=0.1)
    else:
        add("layernorm_after.weight", d, around=1.0, scale=0.1)
        add("layernorm_after.bias", d, scale=0.1)
    add("intermediate.dense.weight", m, d)
    add("intermediate.dense.bias", m, scale=0.1)
    add("output.dense.weight", d, m)
    add("output.dense.bias", d, scale=0.1)
    if bert:
        add("output.LayerNorm.weight", d, around=1.0, scale=0.1)
        add("output.LayerNorm.bias", d, scale=0.1)


# ---- BERT -----------------------------------------------------------------------

BERT_D, BERT_L, BERT_H, BERT_M, BERT_POS, BERT_CLASSES, BERT_EPS = 16, 2, 2, 32, 16, 3, 1e-12


def bert_config(classes):
    c = {"model_type": "bert", "architectures": ["BertForSequenceClassification" if classes else "BertForMaskedLM"],
         "vocab_size": len(VOCAB), "hidden_size": BERT_D, "num_hidden_layers": BERT_L, "num_attention_heads": BERT_H,
         "intermediate_size": BERT_M, "max_position_embeddings": BERT_POS, "type_vocab_size": 2,
         "layer_norm_eps": BERT_EPS, "hidden_dropout_prob": 0.1, "hidden_act": "gelu", "num_labels": classes}
    if classes:
        c["kiln"] = {"labels": ["law", "prophets", "gospels"]}
    return c


def bert_weights(seed, classes):
    g, p = gen(seed), {}

    def add(name, *shape, around=0.0, scale=0.2):
        p[name] = around + scale * torch.randn(*shape, generator=g)

    add("bert.embeddings.word_embeddings.weight", len(VOCAB), BERT_D, scale=0.5)
    add("bert.embeddings.position_embeddings.weight", BERT_POS, BERT_D, scale=0.3)
    add("bert.embeddings.token_type_embeddings.weight", 2, BERT_D, scale=0.3)
    add("bert.embeddings.LayerNorm.weight", BERT_D, around=1.0, scale=0.1)
    add("bert.embeddings.LayerNorm.bias", BERT_D, scale=0.1)
    for l in range(BERT_L):
        add_layer(p, g, f"bert.encoder.layer.{l}.", BERT_D, BERT_M, True)
    add("bert.pooler.dense.weight", BERT_D, BERT_D)
    add("bert.pooler.dense.bias", BERT_D, scale=0.1)
    add("cls.predictions.transform.dense.weight", BERT_D, BERT_D)
    add("cls.predictions.transform.dense.bias", BERT_D, scale=0.1)
    add("cls.predictions.transform.LayerNorm.weight", BERT_D, around=1.0, scale=0.1)
    add("cls.predictions.transform.LayerNorm.bias", BERT_D, scale=0.1)
    add("cls.predictions.bias", len(VOCAB), scale=0.1)
    if classes:
        add("classifier.weight", classes, BERT_D)
        add("classifier.bias", classes, scale=0.1)
    return p


def hf_bert(cfg, w, tokens, types, mask):
    d, nh, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    assert cfg["hidden_act"] == "gelu" and cfg["position_embedding_type"] == "absolute"
    hd = d // nh
    B, t = tokens.shape
    ln = F.layer_norm
    x = (w["bert.embeddings.word_embeddings.weight"][tokens] + w["bert.embeddings.position_embeddings.weight"][torch.arange(t)]
         + w["bert.embeddings.token_type_embeddings.weight"][types])
    x = ln(x, (d,), w["bert.embeddings.LayerNorm.weight"], w["bert.embeddings.LayerNorm.bias"], eps)
    additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    for l in range(cfg["num_hidden_layers"]):
        pre = f"bert.encoder.layer.{l}."
        q, k, v = ((x @ w[pre + f"attention.self.{n}.weight"].T + w[pre + f"attention.self.{n}.bias"])
                   .view(B, t, nh, hd).transpose(1, 2) for n in ("query", "key", "value"))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + additive, -1)
        a = (probs @ v).transpose(1, 2).reshape(B, t, d)
        a = a @ w[pre + "attention.output.dense.weight"].T + w[pre + "attention.output.dense.bias"]
        x = ln(a + x, (d,), w[pre + "attention.output.LayerNorm.weight"], w[pre + "attention.output.LayerNorm.bias"], eps)
        h = F.gelu(x @ w[pre + "intermediate.dense.weight"].T + w[pre + "intermediate.dense.bias"])
        h = h @ w[pre + "output.dense.weight"].T + w[pre + "output.dense.bias"]
        x = ln(h + x, (d,), w[pre + "output.LayerNorm.weight"], w[pre + "output.LayerNorm.bias"], eps)
    return x


def hf_bert_mlm_logits(cfg, w, hidden):
    assert cfg.get("tie_word_embeddings", True) and "cls.predictions.decoder.weight" not in w
    d, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
    h = F.gelu(hidden @ w["cls.predictions.transform.dense.weight"].T + w["cls.predictions.transform.dense.bias"])
    h = F.layer_norm(h, (d,), w["cls.predictions.transform.LayerNorm.weight"], w["cls.predictions.transform.LayerNorm.bias"], eps)
    return h @ w["bert.embeddings.word_embeddings.weight"].T + w["cls.predictions.bias"]


def hf_bert_classifier_logits(w, hidden):
    pooled = torch.tanh(hidden[:, 0] @ w["bert.pooler.dense.weight"].T + w["bert.pooler.dense.bias"])
    return pooled @ w["classifier.weight"].T + w["classifier.bias"]


# ---- ViT and MAE ------------------------------------------------------------------

B, C, S, P, D, L, H, M, K = 2, 3, 8, 4, 16, 2, 2, 32, 5
G, N = S // P, (S // P) ** 2
DD, DL, DH, DM, VIT_EPS, MASK_RATIO = 8, 1, 2, 16, 1e-6, 0.5


def vit_config(mae):
    c = {"model_type": "vit_mae" if mae else "vit", "architectures": ["ViTMAEForPreTraining" if mae else "ViTForImageClassification"],
         "image_size": S, "num_channels": C, "patch_size": P, "hidden_size": D, "num_hidden_layers": L,
         "num_attention_heads": H, "intermediate_size": M, "num_labels": 0 if mae else K, "layer_norm_eps": VIT_EPS,
         "hidden_act": "gelu", "kiln": {"sincos_positions": mae, "mean_pool": False}}
    if mae:
        c.update({"decoder_hidden_size": DD, "decoder_num_hidden_layers": DL, "decoder_num_attention_heads": DH,
                  "decoder_intermediate_size": DM, "mask_ratio": MASK_RATIO, "norm_pix_loss": True})
    return c


def vit_weights(seed, mae):
    g, p = gen(seed), {}

    def add(name, *shape, around=0.0, scale=0.2):
        p[name] = around + scale * torch.randn(*shape, generator=g)

    add("vit.embeddings.cls_token", 1, 1, D)
    if not mae:
        add("vit.embeddings.position_embeddings", 1, N + 1, D)
    add("vit.embeddings.patch_embeddings.projection.weight", D, C, P, P)
    add("vit.embeddings.patch_embeddings.projection.bias", D, scale=0.1)
    for l in range(L):
        add_layer(p, g, f"vit.encoder.layer.{l}.", D, M, False)
    add("vit.layernorm.weight", D, around=1.0, scale=0.1)
    add("vit.layernorm.bias", D, scale=0.1)
    if mae:
        add("decoder.decoder_embed.weight", DD, D)
        add("decoder.decoder_embed.bias", DD, scale=0.1)
        add("decoder.mask_token", 1, 1, DD)
        for l in range(DL):
            add_layer(p, g, f"decoder.decoder_layers.{l}.", DD, DM, False)
        add("decoder.decoder_norm.weight", DD, around=1.0, scale=0.1)
        add("decoder.decoder_norm.bias", DD, scale=0.1)
        add("decoder.decoder_pred.weight", P * P * C, DD)
        add("decoder.decoder_pred.bias", P * P * C, scale=0.1)
    else:
        add("classifier.weight", K, D)
        add("classifier.bias", K, scale=0.1)
    return p


def vit_layer(w, pre, x, nh, eps):
    B, t, d = x.shape
    hd = d // nh
    h = F.layer_norm(x, (d,), w[pre + "layernorm_before.weight"], w[pre + "layernorm_before.bias"], eps)
    q, k, v = ((h @ w[pre + f"attention.attention.{n}.weight"].T + w[pre + f"attention.attention.{n}.bias"])
               .view(B, t, nh, hd).transpose(1, 2) for n in ("query", "key", "value"))
    a = (torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), -1) @ v).transpose(1, 2).reshape(B, t, d)
    x = x + a @ w[pre + "attention.output.dense.weight"].T + w[pre + "attention.output.dense.bias"]
    h = F.layer_norm(x, (d,), w[pre + "layernorm_after.weight"], w[pre + "layernorm_after.bias"], eps)
    h = F.gelu(h @ w[pre + "intermediate.dense.weight"].T + w[pre + "intermediate.dense.bias"])
    return x + h @ w[pre + "output.dense.weight"].T + w[pre + "output.dense.bias"]


def patch_embed(cfg, w, images):
    x = F.conv2d(images, w["vit.embeddings.patch_embeddings.projection.weight"],
                 w["vit.embeddings.patch_embeddings.projection.bias"], stride=cfg["patch_size"])
    return x.flatten(2).transpose(1, 2)


def hf_vit_logits(cfg, w, images):
    assert cfg["hidden_act"] == "gelu" and cfg.get("qkv_bias", True)
    x = patch_embed(cfg, w, images)
    x = torch.cat([w["vit.embeddings.cls_token"].expand(x.shape[0], -1, -1), x], 1) + w["vit.embeddings.position_embeddings"]
    for l in range(cfg["num_hidden_layers"]):
        x = vit_layer(w, f"vit.encoder.layer.{l}.", x, cfg["num_attention_heads"], cfg["layer_norm_eps"])
    x = F.layer_norm(x, (cfg["hidden_size"],), w["vit.layernorm.weight"], w["vit.layernorm.bias"], cfg["layer_norm_eps"])
    return x[:, 0] @ w["classifier.weight"].T + w["classifier.bias"]


def hf_mae(cfg, w, images, noise):
    eps, p = cfg["layer_norm_eps"], cfg["patch_size"]
    x = patch_embed(cfg, w, images) + w["vit.embeddings.position_embeddings"][:, 1:, :]
    b, n, d = x.shape
    keep = int(n * (1 - cfg["mask_ratio"]))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    x = torch.gather(x, 1, ids_shuffle[:, :keep, None].expand(-1, -1, d))
    mask = torch.ones(b, n)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    cls = w["vit.embeddings.cls_token"] + w["vit.embeddings.position_embeddings"][:, :1, :]
    x = torch.cat([cls.expand(b, -1, -1), x], 1)
    for l in range(cfg["num_hidden_layers"]):
        x = vit_layer(w, f"vit.encoder.layer.{l}.", x, cfg["num_attention_heads"], eps)
    x = F.layer_norm(x, (d,), w["vit.layernorm.weight"], w["vit.layernorm.bias"], eps)
    x = x @ w["decoder.decoder_embed.weight"].T + w["decoder.decoder_embed.bias"]
    dd = x.shape[-1]
    tokens = torch.cat([x[:, 1:], w["decoder.mask_token"].repeat(b, n + 1 - x.shape[1], 1)], 1)
    tokens = torch.gather(tokens, 1, ids_restore[:, :, None].expand(-1, -1, dd))
    x = torch.cat([x[:, :1], tokens], 1) + w["decoder.decoder_pos_embed"]
    for l in range(cfg["decoder_num_hidden_layers"]):
        x = vit_layer(w, f"decoder.decoder_layers.{l}.", x, cfg["decoder_num_attention_heads"], eps)
    x = F.layer_norm(x, (dd,), w["decoder.decoder_norm.weight"], w["decoder.decoder_norm.bias"], eps)
    pred = (x @ w["decoder.decoder_pred.weight"].T + w["decoder.decoder_pred.bias"])[:, 1:]
    # patchify: (h, w) patches, each flattened (p, q, c)
    g = images.shape[2] // p
    target = images.reshape(b, images.shape[1], g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(b, g * g, -1)
    if cfg["norm_pix_loss"]:
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        target = (target - mean) / (var + 1.0e-6) ** 0.5
    loss = ((pred - target) ** 2).mean(-1)
    return pred, (loss * mask).sum() / mask.sum(), mask


# ---- driver -------------------------------------------------------------------------

def write_kiln_folder(folder, cfg, w, vocab=None):
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(folder, "model.safetensors"), w)
    if vocab:
        with open(os.path.join(folder, "vocab.txt"), "w") as f:
            f.write("\n".join(vocab) + "\n")


def export(kiln, tmp, name, cfg, w, vocab=None):
    run = os.path.join(tmp, name)
    write_kiln_folder(os.path.join(run, "model"), cfg, w, vocab)
    out = os.path.join(tmp, name + "-hf")
    subprocess.run([kiln, "export", "hf", run, "-o", out], check=True)
    with open(os.path.join(out, "config.json")) as f:
        hf_cfg = json.load(f)
    return hf_cfg, read_safetensors(os.path.join(out, "model.safetensors")), out


def main():
    kiln = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "kiln")
    out, meta = {}, {"bert.vocab": json.dumps(VOCAB)}
    tokens = torch.randint(5, len(VOCAB), (2, 9), generator=gen(3))
    tokens[:, 0], tokens[:, -1] = 2, 3
    types = torch.zeros_like(tokens)
    types[:, 5:] = 1
    attention = torch.ones_like(tokens)
    attention[1, 6:] = 0
    labels = torch.full_like(tokens, -100)
    labels[0, 2], labels[0, 4], labels[1, 3] = 7, 12, 9
    images = torch.randn(B, C, S, S, generator=gen(4))
    noise = torch.rand(B, N, generator=gen(6))
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        for name, classes in (("bert", 0), ("bert_cls", BERT_CLASSES)):
            cfg, w = bert_config(classes), bert_weights(31 + classes, classes)
            hf_cfg, hf_w, folder = export(kiln, tmp, name, cfg, w, VOCAB)
            assert open(os.path.join(folder, "vocab.txt")).read().split("\n")[:len(VOCAB)] == VOCAB
            hidden = hf_bert(hf_cfg, hf_w, tokens, types, attention)
            if classes:
                assert hf_cfg["architectures"] == ["BertForSequenceClassification"], hf_cfg
                assert hf_cfg["id2label"] == {"0": "law", "1": "prophets", "2": "gospels"}, hf_cfg
                out[f"{name}.logits"] = hf_bert_classifier_logits(hf_w, hidden)
            else:
                assert hf_cfg["architectures"] == ["BertForMaskedLM"], hf_cfg
                logits = hf_bert_mlm_logits(hf_cfg, hf_w, hidden)
                out["bert.mlm_loss"] = F.cross_entropy(logits.reshape(-1, len(VOCAB)), labels.reshape(-1), ignore_index=-100)
                out["bert.hidden"] = hidden
            print(f"{name}: {hf_cfg['architectures'][0]}, {len(hf_w)} tensors")
            for n, p in w.items():
                out[f"{name}.kiln.{n}"] = p
            for n, p in hf_w.items():
                out[f"{name}.hf.{n}"] = p
            meta[f"{name}.config"] = json.dumps(cfg)
        for name, mae in (("vit", False), ("mae", True)):
            cfg, w = vit_config(mae), vit_weights(41 + mae, mae)
            hf_cfg, hf_w, folder = export(kiln, tmp, name, cfg, w)
            with open(os.path.join(folder, "preprocessor_config.json")) as f:
                assert json.load(f)["image_mean"] == [0.286] * C
            if mae:
                assert hf_cfg["architectures"] == ["ViTMAEForPreTraining"], hf_cfg
                pred, loss, mask = hf_mae(hf_cfg, hf_w, images, noise)
                out["mae.pred"], out["mae.loss"], out["mae.mask"] = pred, loss, mask
            else:
                assert hf_cfg["architectures"] == ["ViTForImageClassification"], hf_cfg
                out["vit.logits"] = hf_vit_logits(hf_cfg, hf_w, images)
            print(f"{name}: {hf_cfg['architectures'][0]}, {len(hf_w)} tensors")
            for n, p in w.items():
                out[f"{name}.kiln.{n}"] = p
            for n, p in hf_w.items():
                out[f"{name}.hf.{n}"] = p
            meta[f"{name}.config"] = json.dumps(cfg)
    out.update({"bert.tokens": tokens, "bert.types": types, "bert.attention": attention.to(torch.uint8),
                "bert.labels": labels, "images": images, "mae.noise": noise})
    save("hf_encoders", out, meta)


if __name__ == "__main__":
    main()
