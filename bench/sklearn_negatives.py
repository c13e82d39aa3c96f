#!/usr/bin/env python3
"""Independent scikit-learn classifiers as ONNX files: negatives (models that are *not* copies
of the owner's) for mown's verification experiments, in the format a suspect comes in.

    python3 bench/sklearn_negatives.py --data digits|fashion-mnist --out DIR [--max-train N]
                                       [--seeds K] [--families F,F,...] [--fashion-dir DIR]

Writes DIR/<family>-<params>-s<seed>.onnx for each model and DIR/manifest.json: per file its
family, parameters, seed, training-image count and test accuracy, and for the whole set the data
each model saw, the image shape to open them with and the package versions. Every file takes
X: float [N, C*H*W] (each image flattened row-major, pixels in [0, 1]) and has outputs `label`
(int64 [N]) and `probabilities` (float [N, 10], exported with zipmap=False), so mown opens it as
a suspect given the image shape, which a flat input does not say:
    OnnxOptions { input_shape: Some(ImageShape::new(1, 8, 8)), ..OnnxOptions::default() }
(1x28x28 for fashion-mnist); the default output reading (auto) takes the probabilities as given.

Families (--families; the default is every family mown's ONNX runtime, tract 0.23, runs, checked
by opening each export as a suspect and comparing with predict_proba):
  mlp                  MLPClassifier, one hidden ReLU layer of 32, 64 and 128 units, K seeds each
  logistic-regression  LogisticRegression, C = 1 and 0.1 (deterministic: seed 0 only)
  random-forest        RandomForestClassifier, 16 trees of depth <= 10, K seeds
  extra-trees          ExtraTreesClassifier, 16 trees of depth <= 10, K seeds
  decision-tree        DecisionTreeClassifier, depth <= 12, half the pixels per split, K seeds
  knn                  KNeighborsClassifier(5) (deterministic: seed 0 only). The file holds its
                       training images, so it fits on at most the first 10000 (31 MB of ONNX at
                       28x28; train_images in the manifest says how many)
  svc                  not in the default: SVC(probability=True) exports as ai.onnx.ml
                       SVMClassifier, which tract does not implement, so mown refuses these
                       files (opt in to write them for other runtimes; manifest: mown_opens false)

Data (what each model saw; nothing here depends on mown's own splits, which are drawn in Rust by
the experiment configs, so a negative may have trained on images the owner's model also saw:
the realistic case of an independent model of the same task):
  digits         sklearn.datasets.load_digits (the UCI 8x8 digits, 1797 images; exactly mown's
                 embedded digits set: same images, same order), pixels / 16 as float32, shape
                 1x8x8. Stratified split by sklearn's train_test_split(test_size=0.25,
                 random_state=0): 1347 training images (indices in the manifest), accuracy on the
                 other 450. --max-train N keeps the first N of the training part.
  fashion-mnist  the Debian package dataset-fashion-mnist's IDX files in
                 /usr/share/datasets/fashion-mnist (--fashion-dir to change; scripts/fetch-data.sh
                 installs them), pixels / 255 as float32 (as mown reads them), shape 1x28x28.
                 Trains on the first N of the 60000 training images (N = --max-train, default
                 all), accuracy on the 10000 test images.

Needs scikit-learn and skl2onnx, which mown's tests do not (scripts/fetch-data.sh does not
install them). Written against, and best reproduced with:
    python3 -m venv /tmp/sklvenv
    /tmp/sklvenv/bin/pip install scikit-learn==1.9.1 skl2onnx==1.20.0 onnx==1.23.2 numpy==2.4.6
    /tmp/sklvenv/bin/python bench/sklearn_negatives.py --data digits --out /tmp/negatives-digits
Each file is also run by onnx's reference evaluator on 200 test images and its largest
probability difference from predict_proba recorded (onnx_max_prob_diff; null where the
reference evaluator cannot run it).
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time
import warnings

import numpy as np
import onnx
import sklearn
import skl2onnx
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

PINNED = {"scikit-learn": "1.9.1", "skl2onnx": "1.20.0", "onnx": "1.23.2", "numpy": "2.4.6"}
DEFAULT_FAMILIES = ["mlp", "logistic-regression", "random-forest", "extra-trees", "decision-tree", "knn"]
ALL_FAMILIES = DEFAULT_FAMILIES + ["svc"]
# Families whose ONNX export uses an operator tract 0.23 lacks: mown cannot open them.
NOT_RUN_BY_MOWN = {"svc": "ai.onnx.ml SVMClassifier is not implemented by tract 0.23"}
# k-NN stores its training set in the file.
KNN_MAX_TRAIN = 10000
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
REFERENCE_IMAGES = 200


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    if magic >> 8 != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {values.size} values for shape {shape}")
    return values.reshape(shape)


def idx_file(folder, base):
    for name in (base + ".gz", base):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise SystemExit(
        f"{os.path.join(folder, base)}(.gz) not found: install the Debian package dataset-fashion-mnist "
        "(scripts/fetch-data.sh does) or pass --fashion-dir"
    )


def load_data(name, max_train, fashion_dir):
    """x_train, y_train, x_test, y_test (float32 flattened, int64) and what the models saw."""
    if name == "digits":
        d = load_digits()
        x = (d.data / 16.0).astype(np.float32)
        y = d.target.astype(np.int64)
        idx_train, idx_test = train_test_split(np.arange(len(x)), test_size=0.25, random_state=0, stratify=y)
        idx_train = np.sort(idx_train)
        idx_test = np.sort(idx_test)
        if max_train:
            idx_train = idx_train[:max_train]
        seen = {
            "source": "sklearn.datasets.load_digits (UCI 8x8 digits = mown's embedded digits, same order)",
            "pixels": "value / 16, float32, row-major 1x8x8",
            "split": "train_test_split(test_size=0.25, random_state=0, stratify=labels), sorted",
            "train_indices": idx_train.tolist(),
            "test_images": int(len(idx_test)),
        }
        return x[idx_train], y[idx_train], x[idx_test], y[idx_test], [1, 8, 8], seen
    if name == "fashion-mnist":
        arrays = {}
        for part, prefix in (("train", "train"), ("test", "t10k")):
            images = read_idx(idx_file(fashion_dir, f"{prefix}-images-idx3-ubyte"))
            labels = read_idx(idx_file(fashion_dir, f"{prefix}-labels-idx1-ubyte"))
            arrays[part] = ((images.reshape(len(images), -1) / 255.0).astype(np.float32), labels.astype(np.int64))
        (x_train, y_train), (x_test, y_test) = arrays["train"], arrays["test"]
        n = min(max_train, len(x_train)) if max_train else len(x_train)
        seen = {
            "source": f"Fashion-MNIST IDX files in {fashion_dir} (Debian dataset-fashion-mnist)",
            "pixels": "value / 255, float32, row-major 1x28x28",
            "split": f"training images 0..{n} of train-images-idx3-ubyte; test: all of t10k-images-idx3-ubyte",
            "train_images": int(n),
            "test_images": int(len(x_test)),
        }
        return x_train[:n], y_train[:n], x_test, y_test, [1, 28, 28], seen
    raise SystemExit(f"unknown data set {name!r} (digits, fashion-mnist)")


def estimators(family, seeds, data):
    """(file stem, seed or None, params, estimator, training-image cap or None) per model."""
    mlp_iter = 300 if data == "digits" else 30
    out = []
    if family == "mlp":
        for width in (32, 64, 128):
            for seed in range(seeds):
                params = {"hidden_layer_sizes": (width,), "max_iter": mlp_iter, "random_state": seed}
                out.append((f"mlp-h{width}-s{seed}", seed, params, MLPClassifier(**params)))
    elif family == "logistic-regression":
        for c in (1.0, 0.1):
            params = {"C": c, "max_iter": 2000}
            out.append((f"logreg-c{c:g}", None, params, LogisticRegression(**params)))
    elif family in ("random-forest", "extra-trees"):
        cls, stem = (RandomForestClassifier, "rf") if family == "random-forest" else (ExtraTreesClassifier, "et")
        for seed in range(seeds):
            params = {"n_estimators": 16, "max_depth": 10, "random_state": seed, "n_jobs": -1}
            out.append((f"{stem}-t16-d10-s{seed}", seed, params, cls(**params)))
    elif family == "decision-tree":
        for seed in range(seeds):
            params = {"max_depth": 12, "max_features": 0.5, "random_state": seed}
            out.append((f"tree-d12-s{seed}", seed, params, DecisionTreeClassifier(**params)))
    elif family == "svc":
        for seed in range(seeds):
            params = {"kernel": "rbf", "probability": True, "random_state": seed}
            out.append((f"svc-rbf-s{seed}", seed, params, SVC(**params)))
    elif family == "knn":
        params = {"n_neighbors": 5}
        out.append(("knn-k5", None, params, KNeighborsClassifier(**params)))
        return [(stem, seed, params, est, KNN_MAX_TRAIN) for stem, seed, params, est in out]
    else:
        raise SystemExit(f"unknown family {family!r} ({', '.join(ALL_FAMILIES)})")
    return [(stem, seed, params, est, None) for stem, seed, params, est in out]


def export(est, x):
    model = to_onnx(est, x[:1], options={id(est): {"zipmap": False}})
    # skl2onnx lists opsets in set order, which varies from run to run: sort them.
    opsets = sorted(model.opset_import, key=lambda o: (o.domain, o.version))
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    return model


def reference_diff(model, x, probs):
    try:
        from onnx.reference import ReferenceEvaluator

        _, got = ReferenceEvaluator(model).run(None, {"X": x})
        return float(np.abs(np.asarray(got) - probs).max())
    except Exception as e:  # an operator the reference evaluator lacks
        print(f"  (onnx reference evaluator cannot run it: {type(e).__name__})", file=sys.stderr)
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, choices=["digits", "fashion-mnist"])
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--max-train", type=int, default=0, help="train on at most N images (default: all)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per seeded configuration (default 2)")
    p.add_argument("--families", default=",".join(DEFAULT_FAMILIES), help=f"comma-separated, of {ALL_FAMILIES}")
    p.add_argument("--fashion-dir", default=os.environ.get("MOWN_FASHION_MNIST_DIR") or FASHION_DIR)
    a = p.parse_args()
    if a.max_train < 0 or a.seeds < 1:
        p.error("--max-train must be >= 0 and --seeds >= 1")
    families = [f.strip() for f in a.families.split(",") if f.strip()]
    for f in families:
        if f not in ALL_FAMILIES:
            p.error(f"unknown family {f!r} (of {', '.join(ALL_FAMILIES)})")
        if f in NOT_RUN_BY_MOWN:
            print(f"warning: mown cannot open {f} exports: {NOT_RUN_BY_MOWN[f]}", file=sys.stderr)
    versions = {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__, "onnx": onnx.__version__,
                "numpy": np.__version__}
    if versions != PINNED:
        print(f"warning: written against {PINNED}, running {versions}", file=sys.stderr)
    warnings.filterwarnings("ignore")

    x_train, y_train, x_test, y_test, shape, seen = load_data(a.data, a.max_train, a.fashion_dir)
    print(f"{a.data}: {len(x_train)} training images, {len(x_test)} test images, shape {shape}", file=sys.stderr)
    os.makedirs(a.out, exist_ok=True)
    entries = []
    for family in families:
        for stem, seed, params, est, cap in estimators(family, a.seeds, a.data):
            start = time.time()
            n_train = min(len(x_train), cap or len(x_train))
            est.fit(x_train[:n_train], y_train[:n_train])
            accuracy = float((est.predict(x_test) == y_test).mean())
            model = export(est, x_train)
            name = f"{stem}.onnx"
            onnx.save(model, os.path.join(a.out, name))
            ref = x_test[:REFERENCE_IMAGES]
            diff = reference_diff(model, ref, est.predict_proba(ref))
            entry = {
                "file": name,
                "family": family,
                "params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
                "seed": seed,
                "train_images": int(n_train),
                "test_accuracy": round(accuracy, 4),
                "bytes": os.path.getsize(os.path.join(a.out, name)),
                "onnx_max_prob_diff": diff,
                "mown_opens": family not in NOT_RUN_BY_MOWN,
            }
            if family in NOT_RUN_BY_MOWN:
                entry["why_not"] = NOT_RUN_BY_MOWN[family]
            entries.append(entry)
            print(
                f"{name}: test accuracy {accuracy:.4f}, {entry['bytes']} bytes, {time.time() - start:.1f}s",
                file=sys.stderr,
            )
    manifest = {
        "generator": "bench/sklearn_negatives.py",
        "command": sys.argv,
        "data": a.data,
        "seen": seen,
        "input": "X: float [N, C*H*W], each image flattened row-major; outputs label (int64), probabilities",
        "input_shape": shape,
        "classes": 10,
        "versions": versions,
        "models": entries,
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"wrote {len(entries)} models and manifest.json to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
