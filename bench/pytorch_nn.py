#!/usr/bin/env python3
"""PyTorch reference for `mown bench nn`: the same networks (LeNet-5 28x28x1, Arc A 28x28x1, ResNet-20
32x32x3 with 1x1-conv shortcuts, VGG-11-BN CIFAR-style with global average pooling), the same
batch, the same operations (forward in eval mode; train step = forward + cross-entropy +
backward + SGD momentum update; input gradient in eval mode), median images/s.
Prints one JSON object on stdout. Run by mown itself; usable alone:
    python3 bench/pytorch_nn.py --batch 128 --iters 10 --warmup 2 --threads 2 [--device cuda]
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet5(nn.Module):
    def __init__(self, c=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.short is None else self.short(x)
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + idt)


class ResNet20(nn.Module):
    """mown's CIFAR-style ResNets (crates/nn/src/models/resnet.rs): a 3x3 stem, `depth` basic
    blocks per stage of `widths`, global average pooling. Its module names are the ones
    `mown import --arch resnet20|resnet18` reads (crates/nn/src/pytorch.rs)."""

    def __init__(self, c=3, classes=10, widths=(16, 32, 64), depth=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(c, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        blocks, cin = [], widths[0]
        for stage, w in enumerate(widths):
            for b in range(depth):
                blocks.append(Block(cin, w, 2 if stage > 0 and b == 0 else 1))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(widths[-1], classes)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


class ResNet18(ResNet20):
    """mown's ResNet-18: the same blocks, widths 64-512, two per stage."""

    def __init__(self, c=3, classes=10):
        super().__init__(c, classes, widths=(64, 128, 256, 512), depth=2)


VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class Vgg11Bn(nn.Module):
    """VGG with BatchNorm, CIFAR-style (global average pooling, one linear layer). On small
    inputs mown skips the pools that would shrink the image below 1x1; the weights do not change."""

    def __init__(self, c=3, classes=10, plan=VGG11):
        super().__init__()
        layers, cin = [], c
        for v in plan:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU()]
                cin = v
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


class ArcA(nn.Module):
    """Seed 003's Arc A as mown builds it (crates/nn/src/models/simple_cnn.rs): two 3x3 'same'
    convolutions of 32 and 64 channels with ELU, each followed by a 2x2 max pool, a 128-unit ELU
    layer, then the classifier."""

    def __init__(self, c=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = F.max_pool2d(F.elu(self.conv1(x)), 2)
        x = F.max_pool2d(F.elu(self.conv2(x)), 2)
        return self.fc2(F.elu(self.fc1(x.flatten(1))))


CASES = [
    ("lenet5-28x28x1", LeNet5, 1, 28),
    ("arc-a-28x28x1", ArcA, 1, 28),
    ("resnet20-32x32x3", ResNet20, 3, 32),
    ("vgg11bn-32x32x3", Vgg11Bn, 3, 32),
]


def median_seconds(warmup, iters, fn, sync):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(max(iters, 1)):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--only", default="")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(7)
    dev = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    out = {"torch": torch.__version__, "device": a.device, "threads": a.threads, "batch": a.batch, "cases": {}}
    for name, cls, c, hw in CASES:
        if a.only and a.only not in name:
            continue
        model = cls(c).to(dev)
        x = torch.rand(a.batch, c, hw, hw, device=dev)
        y = torch.arange(a.batch, device=dev) % 10
        model.eval()

        def forward():
            with torch.no_grad():
                model(x)

        fwd = median_seconds(a.warmup, a.iters, forward, sync)
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

        def train():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

        trn = median_seconds(a.warmup, a.iters, train, sync)
        model.eval()
        for prm in model.parameters():
            prm.requires_grad_(False)

        def input_grad():
            xi = x.clone().requires_grad_(True)
            loss = F.cross_entropy(model(xi), y)
            (g,) = torch.autograd.grad(loss, xi)
            return g

        ig = median_seconds(a.warmup, a.iters, input_grad, sync)
        out["cases"][name] = {"forward": a.batch / fwd, "train_step": a.batch / trn, "input_gradient": a.batch / ig}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
