"""A GPT-2 124M-shaped model with random weights, as a Hugging Face folder
(GPT2LMHeadModel: 12 layers, d 768, 12 heads, 1,024 positions, a vocabulary
of 50,257, tied head), for speed measurements only (bench/decode_vs_llamacpp.sh
imports it with `kiln import hf` and exports it to GGUF).

    /usr/bin/python3 bench/gpt2_random_hf.py TOKENIZER_MODEL OUT_DIR   (numpy: Debian's python3-numpy)

kiln's tokenizers are SentencePiece or bytes, and SentencePiece trained on the
KJV text stops near 31,000 pieces, so the 50,257 ids come from a real
SentencePiece model (TOKENIZER_MODEL, e.g. a KJV run's tokenizer.model) whose
piece list is extended with unreachable pieces (`▁~~N`, lowest scores); its
trainer and normalizer specifications are copied byte for byte.
"""
import json
import os
import struct
import sys

import numpy as np

V, D, L, H, POSITIONS = 50257, 768, 12, 12, 1024


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def fields(data):
    """Top-level (field number, wire type, raw bytes of the whole field) of a protobuf message."""
    at = 0
    while at < len(data):
        start = at
        key, at = read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, at = read_varint(data, at)
        elif wire == 1:
            at += 8
        elif wire == 2:
            length, at = read_varint(data, at)
            at += length
        elif wire == 5:
            at += 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, data[start:at]


def piece(text, score):  # ModelProto.SentencePiece {piece = 1, score = 2, type = 3 (NORMAL = 1)}
    body = b"\x0a" + varint(len(text.encode())) + text.encode() + b"\x15" + struct.pack("<f", score) + b"\x18\x01"
    return b"\x0a" + varint(len(body)) + body


def extended_tokenizer(model):
    original = list(fields(model))
    pieces = [raw for number, raw in original if number == 1]
    rest = [raw for number, raw in original if number != 1]
    extra = [piece(f"\u2581~~{i}", -1e6 - i) for i in range(V - len(pieces))]
    return b"".join(pieces + extra + rest)


def main():
    source, out = sys.argv[1], sys.argv[2]
    os.makedirs(out)
    with open(source, "rb") as f:
        model = f.read()
    with open(os.path.join(out, "tokenizer.model"), "wb") as f:
        f.write(extended_tokenizer(model))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "LlamaTokenizer", "kiln_tokenizer_kind": "sentencepiece-bpe"}, f)
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": V, "n_positions": POSITIONS,
              "n_embd": D, "n_layer": L, "n_head": H, "n_inner": None, "activation_function": "gelu_new",
              "layer_norm_epsilon": 1e-5, "initializer_range": 0.02, "tie_word_embeddings": True,
              "torch_dtype": "float32"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    rng = np.random.default_rng(124)
    tensors = {"transformer.wte.weight": (V, D), "transformer.wpe.weight": (POSITIONS, D),
               "transformer.ln_f.weight": (D,), "transformer.ln_f.bias": (D,)}
    for l in range(L):
        p = f"transformer.h.{l}."
        tensors.update({p + "ln_1.weight": (D,), p + "ln_1.bias": (D,), p + "ln_2.weight": (D,), p + "ln_2.bias": (D,),
                        p + "attn.c_attn.weight": (D, 3 * D), p + "attn.c_attn.bias": (3 * D,),
                        p + "attn.c_proj.weight": (D, D), p + "attn.c_proj.bias": (D,),
                        p + "mlp.c_fc.weight": (D, 4 * D), p + "mlp.c_fc.bias": (4 * D,),
                        p + "mlp.c_proj.weight": (4 * D, D), p + "mlp.c_proj.bias": (D,)})
    header, offset = {}, 0
    for name in sorted(tensors):
        size = int(np.prod(tensors[name])) * 4
        header[name] = {"dtype": "F32", "shape": list(tensors[name]), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for name in sorted(tensors):
            shape = tensors[name]
            if name.endswith((".ln_1.weight", ".ln_2.weight", "ln_f.weight")):
                values = np.ones(shape, np.float32)
            elif name.endswith(".bias"):
                values = np.zeros(shape, np.float32)
            else:
                values = (0.02 * rng.standard_normal(shape)).astype(np.float32)
            f.write(values.astype("<f4").tobytes())
    print(f"{out}: GPT2LMHeadModel, {sum(int(np.prod(s)) for s in tensors.values()) / 1e6:.1f}M parameters, vocabulary {V}")


if __name__ == "__main__":
    main()
