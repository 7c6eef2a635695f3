"""Golden data for conv1d and the GRU (torch.nn.functional.conv1d, torch.nn.GRU)."""
import torch
import torch.nn.functional as F

from golden import leaf, run_case, save

g = torch.Generator().manual_seed(2)
out = {}
run_case(out, "conv1d", [leaf((2, 3, 20), g), leaf((4, 3, 5), g), leaf((4,), g)],
         lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1), g)
# CPC's first layer: kernel 10, stride 5
run_case(out, "conv1d_cpc", [leaf((2, 1, 160), g), leaf((6, 1, 10), g), leaf((6,), g)],
         lambda x, w, b: F.conv1d(x, w, b, stride=5, padding=3), g)


def gru(x, h0, w_ih, w_hh, b_ih, b_hh):
    """torch.nn.GRU(batch_first=True)'s kernel, called with leaf tensors so
    that their gradients are recorded; checked against the module below."""
    output, _ = torch._VF.gru(x, h0[None], [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, False, False, True)
    module = torch.nn.GRU(x.shape[2], h0.shape[1], batch_first=True)
    with torch.no_grad():
        for name, value in zip(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"], [w_ih, w_hh, b_ih, b_hh]):
            getattr(module, name).copy_(value)
        assert torch.allclose(module(x, h0[None])[0], output)
    return output


run_case(out, "gru", [leaf((2, 5, 3), g), leaf((2, 4), g), leaf((12, 3), g, 0.5), leaf((12, 4), g, 0.5),
                      leaf((12,), g, 0.5), leaf((12,), g, 0.5)], gru, g)
save("ops_sequence", out, {"torch": torch.__version__, "script": "tests/reference/ops_sequence.py"})
