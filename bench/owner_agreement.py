#!/usr/bin/env python3
"""How close suspects are to the owner, beside how close independent models get: agreement with
the owner's labels on the Fashion-MNIST test set, accuracy, and on the images the owner gets wrong,
how often the suspect gives the owner's wrong label (what AKH measures). Issue #26's check that a
thief's copy is a copy at all. Needs onnxruntime and numpy.
  mown export-onnx OWNER.safetensors --out owner.onnx
  python3 bench/owner_agreement.py --owner owner.onnx SUSPECT.onnx ...
Suspects with a rank-2 input (scikit-learn exports) get flattened images."""
import argparse
import gzip
import os

import numpy as np
import onnxruntime as ort


def labels_of(path, x):
    s = ort.InferenceSession(path)
    inp = s.get_inputs()[0]
    feed = x.reshape(len(x), -1) if len(inp.shape) == 2 else x
    out = s.run(None, {inp.name: feed})[0]
    return out.argmax(1) if out.ndim == 2 else out.astype(np.int64)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--owner", required=True)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("suspects", nargs="+")
    a = ap.parse_args()
    raw = gzip.open(f"{a.data}/t10k-images-idx3-ubyte.gz").read()
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
    y = np.frombuffer(gzip.open(f"{a.data}/t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    owner = labels_of(a.owner, x)
    wrong = owner != y
    print(f"owner: accuracy {(owner == y).mean():.4f}, {wrong.sum()} mistakes on {len(y)} test images")
    for path in a.suspects:
        p = labels_of(path, x)
        name = f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}"
        print(f"{name}: agreement {(p == owner).mean():.3f}  accuracy {(p == y).mean():.3f}  "
              f"owner's wrong label on its mistakes {(p[wrong] == owner[wrong]).mean():.3f}")


if __name__ == "__main__":
    main()
