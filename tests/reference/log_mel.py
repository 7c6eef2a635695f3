"""Log-mel features computed with numpy alone (np.fft.rfft, float64), the
reference for kiln::data::LogMel in tests/data_layer/speech_data_test.cpp.

Definition (include/kiln/data/log_mel.hpp): periodic Hann window of n_fft
samples; frame t centred on sample t*hop + hop//2, zeros outside the signal;
frames = len(signal) // hop; power |rfft|^2; HTK mel filterbank (n_mels + 2
points evenly spaced on 2595*log10(1 + f/700) from 0 Hz to sr/2, triangles of
peak 1, no area normalisation); log(max(mel power, floor)).

Writes tests/data/reference/log_mel.safetensors. Run with Debian's interpreter:

    /usr/bin/python3 tests/reference/log_mel.py
"""
import numpy as np

from golden import save


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def log_mel(x, sr, n_fft, hop, n_mels, floor):
    x = x.astype(np.float64)
    frames = len(x) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    pad = n_fft  # enough zeros on both sides for every frame
    padded = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
    starts = np.arange(frames) * hop + hop // 2 - n_fft // 2 + pad
    segments = np.stack([padded[s:s + n_fft] for s in starts]) * window
    power = np.abs(np.fft.rfft(segments, axis=1)) ** 2  # [frames, n_fft/2 + 1]
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(sr / 2.0), n_mels + 2))
    lo, centre, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bank = np.maximum(0.0, np.minimum((freqs - lo) / (centre - lo), (hi - freqs) / (hi - centre)))  # [n_mels, bins]
    return np.log(np.maximum(power @ bank.T, floor))


rng = np.random.default_rng(7)
out = {}

# Case a: the default options (16 kHz, 25 ms window, 10 ms hop, 40 mels) on a
# chirp, two tones and noise; 3300 samples -> 20 frames (the last 100 samples
# make no frame of their own).
sr = 16000
t = np.arange(3300) / sr
a = (0.4 * np.sin(2 * np.pi * (200 * t + 6000 * t * t)) + 0.2 * np.sin(2 * np.pi * 440 * t)
     + 0.1 * np.sin(2 * np.pi * 3000 * t) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
out["a.signal"] = a
out["a.options"] = np.array([16000, 400, 160, 40], dtype=np.int64)
out["a.floor"] = np.array([1e-6])
out["a.log_mel"] = log_mel(a, 16000, 400, 160, 40, 1e-6)

# Case b: other options (8 kHz, n_fft 256, hop 80, 20 mels, floor 1e-4) on
# noise with a silent stretch in the middle, where the floor applies.
b = (0.3 * rng.standard_normal(1000)).astype(np.float32)
b[400:700] = 0.0
out["b.signal"] = b
out["b.options"] = np.array([8000, 256, 80, 20], dtype=np.int64)
out["b.floor"] = np.array([1e-4])
out["b.log_mel"] = log_mel(b, 8000, 256, 80, 20, 1e-4)

save("log_mel", out, {"numpy": np.__version__, "script": "tests/reference/log_mel.py"})
