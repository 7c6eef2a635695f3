"""One row of a side-by-side table from two benchmark JSON lines (kiln's and
PyTorch's, each with a time in ms under step_ms, latency_ms_per_frame or ms):
both times and the ratio PyTorch time / kiln time (above 1: kiln is faster).

    side_by_side.py LABEL KILN_JSON TORCH_JSON [f32|bf16 [NAME_A NAME_B]]

NAME_A and NAME_B replace "kiln" and "torch" where a row compares two kiln
runs (bf16 against f32): the ratio is then B's time / A's time.

For an f32 row the ratio is printed only when KILN_TORCH_F32_FAIR=1, which
the compare scripts set from bench/frame.py: a ratio against PyTorch on the
reference BLAS says nothing.
"""
import json
import os
import sys

TIME_KEYS = ("step_ms", "latency_ms_per_frame", "ms")


def time_ms(record):
    for key in TIME_KEYS:
        if key in record:
            return record[key]
    raise SystemExit(f"side_by_side.py: no time ({', '.join(TIME_KEYS)}) in {record}")


def main():
    label, kiln, torch = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    precision = sys.argv[4] if len(sys.argv) > 4 else "f32"
    name_a, name_b = (sys.argv[5], sys.argv[6]) if len(sys.argv) > 6 else ("kiln", "torch")
    ours, theirs = time_ms(kiln), time_ms(torch)
    if name_b == "torch" and precision == "f32" and os.environ.get("KILN_TORCH_F32_FAIR") != "1":
        ratio = "n/a (PyTorch f32 on an unoptimised BLAS)"
    else:
        ratio = f"{theirs / ours:6.2f}x"
    print(f"{label:34} {name_a} {ours:10.3f} ms   {name_b} {theirs:10.3f} ms   ratio {ratio}")


if __name__ == "__main__":
    main()
