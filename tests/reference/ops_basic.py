"""Golden data for elementwise, reduction, view and matmul/linear ops."""
import torch

from golden import leaf, run_case, save

g = torch.Generator().manual_seed(0)
out = {}
run_case(out, "add_broadcast", [leaf((2, 3, 4), g), leaf((3, 1), g)], torch.add, g)
run_case(out, "sub_broadcast", [leaf((4,), g), leaf((2, 3, 4), g)], torch.sub, g)
run_case(out, "mul_broadcast", [leaf((2, 1, 4), g), leaf((3, 4), g)], torch.mul, g)
run_case(out, "div", [leaf((3, 4), g), (torch.rand(3, 4, generator=g) + 0.5).requires_grad_(True)], torch.div, g)
run_case(out, "exp", [leaf((5, 3), g)], torch.exp, g)
run_case(out, "log", [(torch.rand(5, 3, generator=g) + 0.1).requires_grad_(True)], torch.log, g)
run_case(out, "tanh", [leaf((5, 3), g)], torch.tanh, g)
run_case(out, "sigmoid", [leaf((5, 3), g)], torch.sigmoid, g)
run_case(out, "sum_dim1", [leaf((2, 3, 4), g)], lambda x: x.sum(1), g)
run_case(out, "mean_dim2_keep", [leaf((2, 3, 4), g)], lambda x: x.mean(2, keepdim=True), g)
run_case(out, "max_dim0", [leaf((5, 3), g)], lambda x: x.max(0).values, g)
run_case(out, "matmul_batched", [leaf((2, 3, 5, 4), g), leaf((2, 3, 4, 6), g)], torch.matmul, g)
run_case(out, "matmul_shared", [leaf((2, 5, 4), g), leaf((4, 6), g)], torch.matmul, g)
run_case(out, "matmul_trans_b", [leaf((3, 5, 4), g), leaf((3, 6, 4), g)], lambda a, b: a @ b.transpose(-1, -2), g)
run_case(out, "matmul_trans_a", [leaf((3, 4, 5), g), leaf((3, 4, 6), g)], lambda a, b: a.transpose(-1, -2) @ b, g)
run_case(out, "linear", [leaf((2, 7, 8), g), leaf((5, 8), g), leaf((5,), g)], torch.nn.functional.linear, g)
run_case(out, "permute_reshape", [leaf((2, 3, 4), g)], lambda x: x.permute(2, 0, 1).reshape(4, 6) * 2.0, g)
run_case(out, "concat", [leaf((2, 3), g), leaf((2, 5), g)], lambda a, b: torch.cat([a, b], 1), g)
save("ops_basic", out, {"torch": torch.__version__, "script": "tests/reference/ops_basic.py"})
