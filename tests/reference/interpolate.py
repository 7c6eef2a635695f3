"""Golden data for ops::resize (kernels/cpu/interpolate): PyTorch 1.13's
F.interpolate with align_corners=False, no antialiasing, in f64.
  bicubic.<in>_<out>  a [1, D, 7, 7] grid resized bicubically to 5×5, 10×10
                      and 4×12 (the C++ side resizes rows, then columns, of
                      the same values laid out [7, 7, D]);
  linear.<in>_<out>   1-D linear resizes of a [D, n] signal (shrink, grow,
                      same size, to one sample).
Each case stores inputs, outputs, an upstream gradient and input gradients
(golden.run_case).
"""
import torch
import torch.nn.functional as F

from golden import leaf, run_case, save

torch.manual_seed(0)
g = torch.Generator().manual_seed(17)
f64 = torch.float64
D = 3
out = {}


def bicubic_grid(h, w):
    # [7, 7, D] in kiln's layout; torch wants [N, C, H, W].
    return lambda x: F.interpolate(x.permute(2, 0, 1)[None], size=(h, w), mode="bicubic",
                                   align_corners=False)[0].permute(1, 2, 0)


for h, w in [(5, 5), (10, 10), (4, 12), (7, 7)]:
    run_case(out, f"bicubic.7_{h}x{w}", [leaf((7, 7, D), g, dtype=f64)], bicubic_grid(h, w), g)


def linear_rows(n_out):
    # [n, D] in kiln's layout (resized along axis 0); torch wants [N, C, L].
    return lambda x: F.interpolate(x.t()[None], size=n_out, mode="linear", align_corners=False)[0].t()


for n_in, n_out in [(16, 5), (16, 7), (5, 16), (7, 10), (6, 6), (4, 1), (1, 3)]:
    run_case(out, f"linear.{n_in}_{n_out}", [leaf((n_in, D), g, dtype=f64)], linear_rows(n_out), g)

save("interpolate", out, {"torch": torch.__version__, "script": "tests/reference/interpolate.py"})
