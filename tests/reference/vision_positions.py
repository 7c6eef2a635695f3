"""Golden data for the vision encoder's absolute position schemes
(SPEC-VLM §1.5, §2.2), in f64 with PyTorch 1.13:
  factorized  NaViT's row + column tables gathered at each token's (row, col);
  fractional  each 1-D table first resized with F.interpolate(mode='linear',
              align_corners=False) to the image's grid height or width;
  learned     one 5×6 grid resized with F.interpolate(mode='bicubic',
              align_corners=False) to each image's grid, then gathered;
  vit_table   a ViT table [1, 1 + 7², D] (class row kept) resized to 5×5,
              10×10 and 4×12 as DeiT/timm's resize_pos_embed does.
Three images with grids 2×4, 4×6 and 6×2 are packed in Qwen2-VL's merge order
(m = 2); cu_v and positions [2, N] are stored with the cases.
"""
import torch
import torch.nn.functional as F

from golden import leaf, run_case, save

torch.manual_seed(0)
g = torch.Generator().manual_seed(5)
f64 = torch.float64
D, M = 4, 2
GRIDS = [(2, 4), (4, 6), (6, 2)]
out = {}


def merge_order(h, w):
    # Qwen2-VL's rot_pos_emb: hpos/wpos reshaped (h/m, m, w/m, m), permuted (0, 2, 1, 3), flattened.
    hpos = torch.arange(h)[:, None].expand(h, w).reshape(h // M, M, w // M, M).permute(0, 2, 1, 3).flatten()
    wpos = torch.arange(w)[None, :].expand(h, w).reshape(h // M, M, w // M, M).permute(0, 2, 1, 3).flatten()
    return hpos, wpos


rows, cols = zip(*(merge_order(h, w) for h, w in GRIDS))
out["positions"] = torch.stack([torch.cat(rows), torch.cat(cols)])
out["cu_v"] = torch.tensor([0] + [h * w for h, w in GRIDS]).cumsum(0).to(torch.int32)


def factorized(row_table, col_table):
    return torch.cat([row_table[r] + col_table[c] for r, c in zip(rows, cols)])


def resize_1d(table, n):
    return F.interpolate(table.t()[None], size=n, mode="linear", align_corners=False)[0].t()


def fractional(row_table, col_table):
    return torch.cat([resize_1d(row_table, h)[r] + resize_1d(col_table, w)[c]
                      for (h, w), r, c in zip(GRIDS, rows, cols)])


def resize_grid(grid, h, w):
    # grid [R, C, D] in kiln's layout; torch wants [1, D, R, C].
    return F.interpolate(grid.permute(2, 0, 1)[None], size=(h, w), mode="bicubic",
                         align_corners=False)[0].permute(1, 2, 0)


def learned(grid):
    return torch.cat([resize_grid(grid, h, w)[r, c] for (h, w), r, c in zip(GRIDS, rows, cols)])


run_case(out, "factorized", [leaf((7, D), g, dtype=f64), leaf((6, D), g, dtype=f64)], factorized, g)
run_case(out, "fractional", [leaf((5, D), g, dtype=f64), leaf((3, D), g, dtype=f64)], fractional, g)
run_case(out, "learned", [leaf((5, 6, D), g, dtype=f64)], learned, g)


def vit_table(h, w):
    def fn(table):
        grid = table[:, 1:].reshape(7, 7, D)
        return torch.cat([table[:, :1], resize_grid(grid, h, w).reshape(1, h * w, D)], 1)
    return fn


for h, w in [(5, 5), (10, 10), (4, 12)]:
    run_case(out, f"vit_table.{h}x{w}", [leaf((1, 50, D), g, dtype=f64)], vit_table(h, w), g)

save("vision_positions", out, {"torch": torch.__version__, "script": "tests/reference/vision_positions.py"})
