#!/usr/bin/env python3
"""PyTorch reference for IPGuard generation (issue #4's timing): the same algorithm as
crates/methods/src/ipguard.rs, run from the same start points, label pairs and owner weights.

The Rust example `ipguard_resnet20` writes a folder with `meta.json` (owner path, i, j, n, k, lr,
iterations, clip, the owner's logits at the start points) and `start.f32` (the start points,
little-endian f32, [candidates, c, h, w]); this script loads the owner's burn safetensors into
bench/pytorch_nn.py's ResNet20, checks that its logits agree with Rust's, and runs:
  - the whole candidate batch through the network in evaluation mode with input gradients;
  - a point whose Eq. 5 loss is zero is done (it keeps its position and leaves the batch);
  - stop when n points are done, no point is left, or after `iterations` steps;
  - Adam per coordinate (beta 0.9/0.999, eps 1e-8, one shared step counter), then clip to [0, 1].
Prints one JSON object: seconds, iterations, converged, gradient_evaluations, max_logit_diff.
    python3 bench/pytorch_ipguard.py DIR [--threads 2]
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_nn import ResNet20  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} is {info['dtype']}, expected F32")
        start, end = info["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(body[start:end], dtype="<f4").copy()).reshape(info["shape"])
    return tensors, meta


def torch_name(burn_name):
    """burn's ResNet names (crates/nn/src/models/resnet.rs) -> bench/pytorch_nn.py's ResNet20."""
    name = burn_name.removeprefix("ResNet.")
    for burn, torch_ in [("stem.conv.", "stem.0."), ("stem.bn.", "stem.1."), ("shortcut.conv.", "short.0."),
                         ("shortcut.bn.", "short.1.")]:
        name = name.replace(burn, torch_)
    return name.replace(".gamma", ".weight").replace(".beta", ".bias")


def load_owner(path):
    tensors, meta = read_safetensors(path)
    info = json.loads(meta["mown"])
    if info["spec"]["arch"] != "resnet20":
        raise SystemExit(f"{path}: the reference has ResNet-20 only, not {info['spec']['arch']}")
    c = info["spec"]["input"]["channels"]
    model = ResNet20(c, info["spec"]["num_classes"])
    state = {torch_name(k): v for k, v in tensors.items()}
    state["fc.weight"] = state["fc.weight"].t().contiguous()  # burn stores Linear as [in, out]
    for key in model.state_dict():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
    model.load_state_dict(state, strict=True)
    model.eval()
    mean = torch.tensor(info["normalization"]["mean"]).reshape(1, c, 1, 1)
    std = torch.tensor(info["normalization"]["std"]).reshape(1, c, 1, 1)
    return lambda x: model((x - mean) / std)


def ipguard_loss(logits, i, j, k):
    """Eq. 5 per row: relu(Z_i - Z_j + k) + relu(max_{t != i, j} Z_t - Z_i)."""
    zi = logits.gather(1, i[:, None])[:, 0]
    zj = logits.gather(1, j[:, None])[:, 0]
    masked = logits.scatter(1, i[:, None], float("-inf")).scatter(1, j[:, None], float("-inf"))
    return F.relu(zi - zj + k) + F.relu(masked.max(1).values - zi)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.dir, "meta.json")) as f:
        meta = json.load(f)
    forward = load_owner(meta["owner"])
    c, h, w = meta["shape"]
    raw = np.fromfile(os.path.join(args.dir, "start.f32"), dtype="<f4")
    x = torch.from_numpy(raw.copy()).reshape(-1, c, h, w)
    i = torch.tensor(meta["i"])
    j = torch.tensor(meta["j"])
    n, k, lr, limit, clip = meta["n"], meta["k"], meta["lr"], meta["iterations"], meta["clip"]
    with torch.no_grad():
        rust = torch.tensor(meta["start_logits"]).reshape(x.shape[0], -1)
        diff = (forward(x) - rust).abs().max().item()
    if not diff <= 1e-3:
        raise SystemExit(f"the owner's logits differ from mown's by {diff}: the weights were not mapped right")

    started = time.perf_counter()
    total = x.shape[0]
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    b1, b2, eps, t = 0.9, 0.999, 1e-8, 0
    active = torch.arange(total)
    done = torch.zeros(total, dtype=torch.bool)
    iterations = 0
    evaluations = 0
    while iterations < limit and len(active) > 0:
        evaluations += len(active)
        xb = x[active].clone().requires_grad_(True)
        losses = ipguard_loss(forward(xb), i[active], j[active], k)
        (grad,) = torch.autograd.grad(losses.sum(), xb)
        still = ~(losses.detach() <= 0)  # a NaN loss is never converged, as in Rust
        done[active[~still]] = True
        if not still.any() or int(done.sum()) >= n:
            break
        rows, grad = active[still], grad[still]
        t += 1
        m[rows] = b1 * m[rows] + (1 - b1) * grad
        v[rows] = b2 * v[rows] + (1 - b2) * grad * grad
        step = lr * (m[rows] / (1 - b1**t)) / ((v[rows] / (1 - b2**t)).sqrt() + eps)
        x[rows] = (x[rows] - step).clamp(0, 1) if clip else x[rows] - step
        active = rows
        iterations += 1
    seconds = time.perf_counter() - started
    print(json.dumps({
        "seconds": seconds,
        "iterations": iterations,
        # Points that reached zero loss (at most n: the loop stops there); mown counts the kept
        # points with zero loss, the same unless the iteration limit is hit.
        "converged": min(int(done.sum()), n),
        "gradient_evaluations": evaluations,
        "max_logit_diff": diff,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
