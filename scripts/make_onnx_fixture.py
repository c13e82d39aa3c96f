#!/usr/bin/env python3
"""ONNX files made by the reference `onnx` package, for mown's ONNX suspect tests.

    make_onnx_fixture.py OUTDIR          write the fixtures below into OUTDIR
    make_onnx_fixture.py --check FILE..  run onnx's checker (with shape inference) on files

Fixtures: a small digits-sized classifier (1x8x8 pixels -> Flatten -> Gemm -> Relu -> Gemm ->
10 logits, seeded numpy weights, the second Gemm stored transposed as PyTorch exports it) in
four variants sharing the weights:
  classifier.onnx          dynamic batch "N"
  classifier_b1.onnx       batch fixed to 1 (as many PyTorch exports are)
  classifier_softmax.onnx  a Softmax at the end: outputs probabilities
  classifier_dynamic.onnx  input [N, 1, H, W]: height and width are not fixed in the file
  classifier_nan.onnx      one output bias is NaN (every answer is NaN: a broken suspect)
  classifier_rank2.onnx    input [N, 64] flat pixels (not an image model)
and expected.json with a few fixed inputs and the logits numpy computes for them.
Needs `pip install onnx numpy` (scripts/fetch-data.sh installs them).
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
SHAPE = (1, 8, 8)
HIDDEN = 32
CLASSES = 10
SEED = 20240601


def weights():
    rng = np.random.default_rng(SEED)
    features = int(np.prod(SHAPE))
    w1 = rng.normal(0.0, 1.0 / np.sqrt(features), (features, HIDDEN)).astype(np.float32)
    b1 = rng.normal(0.0, 0.1, HIDDEN).astype(np.float32)
    w2t = rng.normal(0.0, 1.0 / np.sqrt(HIDDEN), (CLASSES, HIDDEN)).astype(np.float32)
    b2 = rng.normal(0.0, 0.1, CLASSES).astype(np.float32)
    inputs = rng.uniform(0.0, 1.0, (5,) + SHAPE).astype(np.float32)
    return w1, b1, w2t, b2, inputs


def classifier(batch, softmax=False, spatial=True, nan=False, flat=False):
    w1, b1, w2t, b2, _ = weights()
    if nan:
        b2[3] = np.nan
    h, w = (SHAPE[1], SHAPE[2]) if spatial else ("H", "W")
    dims = [batch, int(np.prod(SHAPE))] if flat else [batch, SHAPE[0], h, w]
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, CLASSES])
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w1", "b1"], ["hidden"]),
        helper.make_node("Relu", ["hidden"], ["act"]),
        helper.make_node("Gemm", ["act", "w2t", "b2"], ["logits" if softmax else "output"], transB=1),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["output"], axis=1))
    inits = [numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2t, "w2t"), (b2, "b2")]]
    graph = helper.make_graph(nodes, "digits-mlp", [x], [y], inits)
    model = helper.make_model(
        graph, producer_name="make_onnx_fixture.py", opset_imports=[helper.make_opsetid("", OPSET)]
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def expected():
    w1, b1, w2t, b2, inputs = weights()
    flat = inputs.reshape(len(inputs), -1).astype(np.float64)
    hidden = np.maximum(flat @ w1 + b1, 0.0)
    logits = hidden @ w2t.T.astype(np.float64) + b2
    return {
        "shape": list(SHAPE),
        "classes": CLASSES,
        "inputs": inputs.reshape(len(inputs), -1).tolist(),
        "logits": logits.tolist(),
    }


def main(argv):
    if len(argv) >= 2 and argv[0] == "--check":
        for path in argv[1:]:
            onnx.checker.check_model(onnx.load(path), full_check=True)
            print(f"{path}: ok")
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[0]
    os.makedirs(out, exist_ok=True)
    variants = {
        "classifier.onnx": classifier("N"),
        "classifier_b1.onnx": classifier(1),
        "classifier_softmax.onnx": classifier("N", softmax=True),
        "classifier_dynamic.onnx": classifier("N", spatial=False),
        "classifier_nan.onnx": classifier("N", nan=True),
        "classifier_rank2.onnx": classifier("N", flat=True),
    }
    for name, model in variants.items():
        onnx.save(model, os.path.join(out, name))
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected(), f)
    print(f"wrote {len(variants)} ONNX files and expected.json to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
