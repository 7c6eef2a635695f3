"""Shared helpers for the golden-data scripts in tests/reference/.

Each script computes inputs, outputs and gradients with PyTorch and writes
them to tests/data/reference/<name>.safetensors, which the C++ tests read.
Run with Debian's interpreter, which has python3-torch (PyTorch 1.13):

    /usr/bin/python3 tests/reference/<script>.py

PyTorch 1.13 has no safetensors package, so the format is written here.
"""
import json
import os
import struct

import numpy as np
import torch

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "reference")

_CODES = {
    np.dtype("float32"): "F32",
    np.dtype("float64"): "F64",
    np.dtype("int32"): "I32",
    np.dtype("int64"): "I64",
    np.dtype("uint8"): "U8",
}


def save(name, tensors, metadata=None):
    """Writes a dict name -> torch.Tensor / np.ndarray as safetensors."""
    header = {}
    blobs = []
    offset = 0
    for key in sorted(tensors):
        value = tensors[key]
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        if not value.flags["C_CONTIGUOUS"]:  # (np.ascontiguousarray would turn 0-d into 1-d)
            value = value.copy(order="C")
        raw = value.tobytes()
        header[key] = {"dtype": _CODES[value.dtype], "shape": list(value.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(DATA_DIR, exist_ok=True)
    path = os.path.join(DATA_DIR, name + ".safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    print(f"wrote {path} ({offset} data bytes, {len(tensors)} tensors)")


def leaf(shape, generator, scale=1.0, dtype=torch.float32):
    """A random input that records its gradient."""
    return (torch.randn(*shape, generator=generator, dtype=torch.float64) * scale).to(dtype).requires_grad_(True)


def run_case(out, name, inputs, fn, generator):
    """Evaluates fn(*inputs), back-propagates a random upstream gradient and
    stores inputs, output, upstream gradient and input gradients under
    '<name>.in<i>', '<name>.out', '<name>.dout', '<name>.grad<i>'."""
    y = fn(*inputs)
    dout = torch.randn(tuple(y.shape), generator=generator, dtype=torch.float64).to(y.dtype)
    y.backward(dout)
    for i, x in enumerate(inputs):
        out[f"{name}.in{i}"] = x
        if x.grad is not None:
            out[f"{name}.grad{i}"] = x.grad
    out[f"{name}.out"] = y
    out[f"{name}.dout"] = dout


# Hand-written references for what PyTorch 1.13 lacks.

def rms_norm(x, w, eps=1e-6):
    # As Meta's llama/model.py RMSNorm: eps inside the square root, no mean subtraction, no bias.
    return w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def rope(x, pos, theta, interleaved):
    # RoPE (Su et al., arXiv 2104.09864): interleaved pairs as Meta's llama/model.py, half-split as
    # transformers' modeling_llama.py. Angles in f64, cos/sin rounded once to x's dtype.
    d = x.shape[-1]
    inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    ang = pos.double()[..., None] * inv
    cos, sin = ang.cos().to(x.dtype)[..., None, :], ang.sin().to(x.dtype)[..., None, :]
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2)
    a, b = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)
