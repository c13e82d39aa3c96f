#!/usr/bin/env python3
"""ONNX image classifiers for `mown import`'s tests, with onnxruntime's logits on real images.

    make_onnx_import_fixtures.py OUTDIR

Writes into OUTDIR (crates/access/tests/fixtures/onnx_import/ in the repository):
  resnet.onnx   ResNet-style: Conv, BatchNormalization (non-trivial running statistics), Relu,
                residual Add, a strided block with a 1x1 Conv shortcut, GlobalAveragePool,
                Flatten, Gemm (transB=1, as PyTorch exports Linear). Input [N, 3, 8, 8].
  vgg.onnx      VGG-style: Conv + bias, Relu, MaxPool, Dropout, Identity, a Reshape whose target
                is computed by Shape -> Gather -> Unsqueeze -> Concat (PyTorch's x.view(x.size(0),
                -1)), MatMul + Add, and a final Softmax. Input [N, 3, 16, 16].
  keras.onnx    tf2onnx / Keras-style, input NHWC [N, 8, 8, 3] in [0, 255]: Div by 255, Transpose,
                Conv with auto_pad SAME_UPPER and stride 2, Clip(0, 6) (ReLU6), a depthwise
                dilated Conv (group = channels), PRelu, Pad (constant, asymmetric),
                AveragePool with pads (count_include_pad = 0), 1x1 Conv, GlobalAveragePool,
                Squeeze / Unsqueeze with constant axes.
  misc.onnx     Elu, Sigmoid, Concat, Tanh, Mul, Sub, LeakyRelu, MaxPool with asymmetric pads
                and ceil_mode, Flatten, Gemm with alpha / beta, and a final LogSoftmax.
                Input [N, 1, 8, 8].
  expected.json per model: the file, its layout and input range, and onnxruntime's logits (the
                values before a final Softmax / LogSoftmax) for 6 images given as mown feeds
                them: NCHW pixels in [0, 1].

Images are real: scikit-learn's digits (pixels / 16, as mown's embedded digits), made into three
channels (the digit, its transpose, its negative) and upsampled 2x for 16x16. Weights come from
fixed numpy seeds. Needs onnx, onnxruntime, numpy and scikit-learn (scripts/fetch-data.sh
installs the first three).
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
CLASSES = 10
SEED = 20250729


class Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, name, shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        scale = scale if scale is not None else 1.0 / np.sqrt(fan_in)
        return self.init(name, self.rng.normal(0.0, scale, shape).astype(np.float32))

    def node(self, op, inputs, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def bn(self, x, c, name):
        g = self.init(f"{name}.gamma", self.rng.uniform(0.5, 1.5, c).astype(np.float32))
        b = self.init(f"{name}.beta", self.rng.normal(0.0, 0.2, c).astype(np.float32))
        m = self.init(f"{name}.mean", self.rng.normal(0.0, 0.3, c).astype(np.float32))
        v = self.init(f"{name}.var", self.rng.uniform(0.5, 2.0, c).astype(np.float32))
        return self.node("BatchNormalization", [x, g, b, m, v], name, epsilon=1e-5)

    def model(self, name, input_dims, logits, final=None):
        """The model as saved (ending in `final` when given) and a copy exposing the logits."""
        x = helper.make_tensor_value_info("input", TensorProto.FLOAT, input_dims)
        nodes = list(self.nodes)
        out = logits
        if final is not None:
            nodes.append(helper.make_node(final, [logits], ["probs"], name=final.lower(), axis=-1))
            out = "probs"
        y = helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", CLASSES])
        graph = helper.make_graph(nodes, name, [x], [y], self.inits)
        model = helper.make_model(graph, producer_name="make_onnx_import_fixtures.py",
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        if final is not None:
            probe.graph.output.append(helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["N", CLASSES]))
        return model, probe


def resnet():
    b = Builder(SEED + 1)
    h = b.node("Conv", ["input", b.weight("stem.w", (8, 3, 3, 3))], "stem.conv", pads=[1, 1, 1, 1])
    h = b.node("Relu", [b.bn(h, 8, "stem.bn")], "stem.relu")
    y = b.node("Conv", [h, b.weight("b1.w1", (8, 8, 3, 3))], "b1.conv1", pads=[1, 1, 1, 1])
    y = b.node("Relu", [b.bn(y, 8, "b1.bn1")], "b1.relu1")
    y = b.node("Conv", [y, b.weight("b1.w2", (8, 8, 3, 3))], "b1.conv2", pads=[1, 1, 1, 1])
    y = b.node("Add", [b.bn(y, 8, "b1.bn2"), h], "b1.add")
    h = b.node("Relu", [y], "b1.relu2")
    y = b.node("Conv", [h, b.weight("b2.w1", (16, 8, 3, 3))], "b2.conv1", pads=[1, 1, 1, 1], strides=[2, 2])
    y = b.node("Relu", [b.bn(y, 16, "b2.bn1")], "b2.relu1")
    y = b.node("Conv", [y, b.weight("b2.w2", (16, 16, 3, 3))], "b2.conv2", pads=[1, 1, 1, 1])
    y = b.bn(y, 16, "b2.bn2")
    s = b.node("Conv", [h, b.weight("b2.ws", (16, 8, 1, 1))], "b2.short", strides=[2, 2])
    y = b.node("Add", [y, b.bn(s, 16, "b2.bns")], "b2.add")
    h = b.node("Relu", [y], "b2.relu2")
    h = b.node("GlobalAveragePool", [h], "gap")
    h = b.node("Flatten", [h], "flatten", axis=1)
    w, bias = b.weight("fc.w", (CLASSES, 16)), b.weight("fc.b", (CLASSES,), 0.1)
    h = b.node("Gemm", [h, w, bias], "fc", transB=1)
    return b.model("resnet", ["N", 3, 8, 8], h)


def vgg():
    b = Builder(SEED + 2)
    h = b.node("Conv", ["input", b.weight("c1.w", (8, 3, 3, 3)), b.weight("c1.b", (8,), 0.1)], "c1", pads=[1, 1, 1, 1])
    h = b.node("Relu", [h], "r1")
    h = b.node("MaxPool", [h], "p1", kernel_shape=[2, 2], strides=[2, 2])
    h = b.node("Conv", [h, b.weight("c2.w", (16, 8, 3, 3)), b.weight("c2.b", (16,), 0.1)], "c2", pads=[1, 1, 1, 1])
    h = b.node("Relu", [h], "r2")
    h = b.node("MaxPool", [h], "p2", kernel_shape=[2, 2], strides=[2, 2])
    h = b.node("Dropout", [h], "drop")
    shape = b.node("Shape", [h], "shape")
    batch = b.node("Gather", [shape, b.init("zero", np.array(0, dtype=np.int64))], "batch", axis=0)
    batch = b.node("Unsqueeze", [batch, b.init("axes0", np.array([0], dtype=np.int64))], "batch1")
    target = b.node("Concat", [batch, b.init("minus1", np.array([-1], dtype=np.int64))], "target", axis=0)
    h = b.node("Reshape", [h, target], "view")
    h = b.node("MatMul", [h, b.weight("fc1.w", (256, 32), 1 / 16)], "fc1.mm")
    h = b.node("Add", [h, b.weight("fc1.b", (32,), 0.1)], "fc1")
    h = b.node("Relu", [h], "r3")
    h = b.node("Identity", [h], "id")
    h = b.node("MatMul", [h, b.weight("fc2.w", (32, CLASSES), 1 / np.sqrt(32))], "fc2.mm")
    h = b.node("Add", [h, b.weight("fc2.b", (CLASSES,), 0.1)], "fc2")
    return b.model("vgg", ["N", 3, 16, 16], h, final="Softmax")


def keras():
    b = Builder(SEED + 3)
    scalar = lambda v: np.array(v, dtype=np.float32)
    h = b.node("Div", ["input", b.init("255", scalar(255.0))], "rescale")
    h = b.node("Transpose", [h], "to_nchw", perm=[0, 3, 1, 2])
    h = b.node("Conv", [h, b.weight("c1.w", (8, 3, 3, 3)), b.weight("c1.b", (8,), 0.1)], "c1",
               auto_pad="SAME_UPPER", strides=[2, 2])
    h = b.node("Clip", [h, b.init("zero", scalar(0.0)), b.init("six", scalar(6.0))], "relu6")
    h = b.node("Conv", [h, b.weight("dw.w", (8, 1, 3, 3), 0.5), b.weight("dw.b", (8,), 0.1)], "dw",
               group=8, dilations=[2, 2], pads=[2, 2, 2, 2])
    h = b.node("PRelu", [h, b.init("slope", b.rng.uniform(0.05, 0.3, (8, 1, 1)).astype(np.float32))], "prelu")
    h = b.node("Pad", [h, b.init("pads", np.array([0, 0, 1, 0, 0, 0, 0, 1], dtype=np.int64))], "pad", mode="constant")
    h = b.node("AveragePool", [h], "avg", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)
    h = b.node("Conv", [h, b.weight("head.w", (CLASSES, 8, 1, 1)), b.weight("head.b", (CLASSES,), 0.1)], "head")
    h = b.node("GlobalAveragePool", [h], "gap")
    h = b.node("Squeeze", [h, b.init("axes23", np.array([2, 3], dtype=np.int64))], "squeeze")
    h = b.node("Unsqueeze", [h, b.init("axes1", np.array([1], dtype=np.int64))], "unsqueeze")
    h = b.node("Squeeze", [h, b.init("axes_1", np.array([1], dtype=np.int64))], "logits")
    return b.model("keras", ["unk__1", 8, 8, 3], h)


def misc():
    b = Builder(SEED + 4)
    h = b.node("Conv", ["input", b.weight("c.w", (4, 1, 3, 3)), b.weight("c.b", (4,), 0.1)], "c", pads=[1, 1, 1, 1])
    e = b.node("Elu", [h], "elu", alpha=0.7)
    s = b.node("Sigmoid", [h], "sigmoid")
    h = b.node("Concat", [e, s], "cat", axis=1)
    h = b.node("Tanh", [h], "tanh")
    h = b.node("Mul", [h, b.init("scale", b.rng.uniform(0.5, 2.0, (1, 8, 1, 1)).astype(np.float32))], "mul")
    h = b.node("Sub", [h, b.init("shift", np.array(0.2, dtype=np.float32))], "sub")
    h = b.node("LeakyRelu", [h], "leaky", alpha=0.1)
    h = b.node("MaxPool", [h], "pool", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 0, 0], ceil_mode=1)
    h = b.node("Flatten", [h], "flatten", axis=1)
    w, bias = b.weight("fc.w", (8 * 4 * 4, CLASSES)), b.weight("fc.b", (CLASSES,), 0.1)
    h = b.node("Gemm", [h, w, bias], "fc", alpha=0.5, beta=2.0)
    return b.model("misc", ["N", 1, 8, 8], h, final="LogSoftmax")


def images(shape, n=6):
    """Real digits as NCHW pixels in [0, 1] of `shape`."""
    from sklearn.datasets import load_digits

    d = load_digits().images[1400:1400 + 16 * n:16].astype(np.float32) / 16.0
    c, h, w = shape
    chans = [d, d.transpose(0, 2, 1), 1.0 - d][:c]
    x = np.stack(chans, axis=1)
    if h == 16:
        x = np.kron(x, np.ones((1, 1, 2, 2), dtype=np.float32))
    return x.astype(np.float32)


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[0]
    os.makedirs(out, exist_ok=True)
    expected = {"generator": "scripts/make_onnx_import_fixtures.py",
                "versions": {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "numpy": np.__version__}}
    specs = [("resnet", resnet, (3, 8, 8), "nchw", 1.0),
             ("vgg", vgg, (3, 16, 16), "nchw", 1.0),
             ("keras", keras, (3, 8, 8), "nhwc", 255.0),
             ("misc", misc, (1, 8, 8), "nchw", 1.0)]
    for name, build, shape, layout, scale in specs:
        model, probe = build()
        path = os.path.join(out, f"{name}.onnx")
        onnx.save(model, path)
        x = images(shape)
        feed = x * scale
        if layout == "nhwc":
            feed = feed.transpose(0, 2, 3, 1)
        sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
        logits = sess.run([probe.graph.output[-1].name], {"input": np.ascontiguousarray(feed)})[0]
        expected[name] = {"file": f"{name}.onnx", "layout": layout, "input_range": scale, "shape": list(shape),
                          "images": x.reshape(len(x), -1).tolist(), "logits": logits.tolist()}
        print(f"{path}: {os.path.getsize(path)} bytes, logits {logits.shape}")
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
