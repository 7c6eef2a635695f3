"""Golden trajectories of torch.optim.AdamW and SGD, and clip_grad_norm_."""
import torch

from golden import save

g = torch.Generator().manual_seed(5)
out = {}
w0 = torch.randn(4, 3, generator=g)
b0 = torch.randn(3, generator=g)
grads = [(torch.randn(4, 3, generator=g), torch.randn(3, generator=g)) for _ in range(5)]
out["w0"], out["b0"] = w0, b0
for i, (gw, gb) in enumerate(grads):
    out[f"grad{i}.w"], out[f"grad{i}.b"] = gw, gb


def trajectory(name, make):
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    opt = make(w, b)
    for i, (gw, gb) in enumerate(grads):
        w.grad, b.grad = gw.clone(), gb.clone()
        opt.step()
        out[f"{name}.step{i}.w"], out[f"{name}.step{i}.b"] = w.detach().clone(), b.detach().clone()


# weight decay only on the matrix (the 1-d bias is excluded, as kiln's rule does)
trajectory("adamw", lambda w, b: torch.optim.AdamW(
    [{"params": [w], "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0}], lr=0.01, betas=(0.9, 0.95), eps=1e-8))
trajectory("sgd", lambda w, b: torch.optim.SGD([w, b], lr=0.1, momentum=0.9, weight_decay=0.01))
trajectory("sgd_nesterov", lambda w, b: torch.optim.SGD([w, b], lr=0.1, momentum=0.9, nesterov=True))

w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
w.grad, b.grad = grads[0][0].clone() * 3, grads[0][1].clone() * 3
norm = torch.nn.utils.clip_grad_norm_([w, b], 1.0)
out["clip.norm"], out["clip.w"], out["clip.b"] = norm.reshape(1), w.grad, b.grad
save("optim", out, {"torch": torch.__version__, "script": "tests/reference/optim.py"})
