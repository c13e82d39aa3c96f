#!/usr/bin/env python3
"""Fixtures for `mown import --arch ARCH STATE_DICT.safetensors`: PyTorch state_dicts of the
networks in bench/pytorch_nn.py (LeNet-5, Arc A, ResNet-20, on 1x28x28 inputs), saved with
safetensors, and the logits PyTorch computes for a few images in eval mode. The weights are
PyTorch's own initialisation, seeded, with the BatchNorm running statistics and affine parameters
randomised so that a wrong mapping of any of them shows in the logits. ResNet-20 and Arc A are
stored in float16 (a half-precision state_dict, and half the bytes in git); the logits are those
of the stored weights.

Needs torch and safetensors (not installed by scripts/fetch-data.sh: the fixtures are committed,
and no Python runs in mown's tests):
    python3 scripts/make_pytorch_fixture.py crates/nn/tests/fixtures/pytorch
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
from pytorch_nn import ArcA, LeNet5, ResNet20  # noqa: E402

CASES = [("lenet5", LeNet5, torch.float32), ("arc-a", ArcA, torch.float16), ("resnet20", ResNet20, torch.float16)]


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(7)
    images = torch.rand(4, 1, 28, 28)
    expected = {"generator": "scripts/make_pytorch_fixture.py", "torch": torch.__version__,
                "shape": [1, 28, 28], "classes": 10, "inputs": images.flatten(1).tolist(), "models": {}}
    for name, cls, dtype in CASES:
        torch.manual_seed(11)
        model = cls(c=1, classes=10)
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n) * 0.1)
                module.running_var.copy_(torch.rand(n) + 0.5)
                module.weight.data.copy_(torch.rand(n) + 0.5)
                module.bias.data.copy_(torch.randn(n) * 0.1)
        state = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
        # num_batches_tracked stays int64, as PyTorch saves it.
        state = {k: (v if not k.endswith("num_batches_tracked") else model.state_dict()[k]) for k, v in state.items()}
        save_file(state, os.path.join(out, f"{name}.safetensors"))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        model.eval()
        with torch.no_grad():
            logits = model(images)
        expected["models"][name] = {"file": f"{name}.safetensors", "dtype": str(dtype).removeprefix("torch."),
                                    "logits": logits.tolist(), "tensors": sorted(state)}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "crates/nn/tests/fixtures/pytorch")
