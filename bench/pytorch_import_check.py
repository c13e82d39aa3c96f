#!/usr/bin/env python3
"""Checks `mown import --arch` on the architectures too large for a committed fixture (ResNet-18,
VGG-11, VGG-16 on 3x32x32): PyTorch builds each network of bench/pytorch_nn.py (BatchNorm
statistics and affine parameters randomised), saves its state_dict with safetensors, mown imports
it and exports it to ONNX, and onnxruntime's logits are compared with PyTorch's. Needs torch,
safetensors and onnxruntime; writes into the current folder.
    python3 bench/pytorch_import_check.py target/release/mown
"""
import sys, subprocess, json
import os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch, numpy as np, onnxruntime as ort
from safetensors.torch import save_file
from pytorch_nn import ResNet18, Vgg11Bn, VGG16
M = sys.argv[1]
cases = [("resnet18", lambda: ResNet18(c=3)), ("vgg11", lambda: Vgg11Bn(c=3)), ("vgg16", lambda: Vgg11Bn(c=3, plan=VGG16))]
torch.manual_seed(3)
x = torch.rand(4, 3, 32, 32)
for arch, make in cases:
    torch.manual_seed(5)
    m = make()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n) * 0.1); mod.running_var.copy_(torch.rand(n) + 0.5)
            mod.weight.data.copy_(torch.rand(n) + 0.5); mod.bias.data.copy_(torch.randn(n) * 0.1)
    m.eval()
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, f"{arch}.safetensors")
    with torch.no_grad():
        want = m(x).numpy()
    r = subprocess.run([M, "import", "--arch", arch, f"{arch}.safetensors", "--input-shape", "3,32,32", "--out", f"{arch}.mown.safetensors"], capture_output=True, text=True)
    if r.returncode: print(arch, "import failed", r.stderr); continue
    r = subprocess.run([M, "export-onnx", f"{arch}.mown.safetensors", "--out", f"{arch}.onnx"], capture_output=True, text=True)
    if r.returncode: print(arch, "export failed", r.stderr); continue
    s = ort.InferenceSession(f"{arch}.onnx")
    got = s.run(None, {s.get_inputs()[0].name: x.numpy()})[0]
    print(arch, "max |logit diff| torch vs mown (via export-onnx + onnxruntime):", float(np.abs(got - want).max()), "logit scale", float(np.abs(want).max()))
