#!/usr/bin/env python3
"""Small scikit-learn classifiers exported with skl2onnx, for mown's ONNX suspect tests
(crates/access/tests/sklearn_onnx.rs). The files are committed: the Rust tests never run Python.

    make_sklearn_fixture.py [OUTDIR]    (default: crates/access/tests/fixtures/sklearn)

Written with, and only reproducible byte for byte with:
    scikit-learn 1.9.1, skl2onnx 1.20.0 (onnx 1.23.2, numpy 2.4.6, scipy 1.17.1, Python 3.11)
Install them in a scratch environment, not in the one the rest of mown's tooling uses:
    python3 -m venv /tmp/sklvenv
    /tmp/sklvenv/bin/pip install scikit-learn==1.9.1 skl2onnx==1.20.0 onnx==1.23.2 numpy==2.4.6
    /tmp/sklvenv/bin/python scripts/make_sklearn_fixture.py
Other versions still work but print a warning (the files and expected numbers will differ a little).

Data: the UCI 8x8 digits of sklearn.datasets.load_digits, pixels divided by 16 into [0, 1]
(float32), flattened row-major: exactly mown's embedded digits (crates/data/src/digits.rs: the
same 1797 images in the same order, shape 1x8x8, values / 16), so image i of mown's set is row i
here. Models train on images 0..1400 and the expected answers are for held-out images.

Files (every model takes X: float [N, 64] and has outputs `label` (int64 [N]) and
`probabilities` (float [N, 10]), i.e. exported with options={'zipmap': False}, except where noted):
  mlp32.onnx           MLPClassifier, one hidden layer of 32 ReLU units (graph ends in Softmax)
  logreg.onnx          LogisticRegression (ai.onnx.ml LinearClassifier + Normalizer)
  tree.onnx            DecisionTreeClassifier, depth <= 8 (ai.onnx.ml TreeEnsembleClassifier)
  forest.onnx          RandomForestClassifier, 8 trees of depth <= 5 (TreeEnsembleClassifier)
  logreg_zipmap.onnx   LogisticRegression with skl2onnx's default ZipMap: `output_probability` is
                       a sequence of maps (mown refuses it and says to export with zipmap=False)
  svc.onnx             SVC(kernel='linear', probability=True) on 60 images (ai.onnx.ml
                       SVMClassifier, an operator tract does not implement)
  expected.json        the held-out images (row-major, /16), their indices in the digits set, and
                       per model sklearn's predict (== the ONNX `label` output, checked with onnx's
                       reference evaluator) and predict_proba, plus test accuracy
"""

import json
import os
import sys
import warnings

import numpy as np
import onnx
import sklearn
import skl2onnx
from onnx.reference import ReferenceEvaluator
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

VERSIONS = {"scikit-learn": "1.9.1", "skl2onnx": "1.20.0", "onnx": "1.23.2", "numpy": "2.4.6"}
TRAIN = 1400
# Held-out images whose answers the tests compare: every 16th image from TRAIN on.
EXPECTED_STEP = 16
SEED = 0
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "access", "tests", "fixtures", "sklearn")
MAX_BYTES = 200_000


def digits():
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    assert x.shape == (1797, 64) and x.min() == 0.0 and x.max() == 1.0
    return x, d.target.astype(np.int64)


def models():
    """(file, family, estimator, training images, zipmap)"""
    return [
        ("mlp32.onnx", "mlp", MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=SEED), TRAIN, False),
        ("logreg.onnx", "logistic-regression", LogisticRegression(max_iter=2000), TRAIN, False),
        ("tree.onnx", "decision-tree", DecisionTreeClassifier(max_depth=8, random_state=SEED), TRAIN, False),
        (
            "forest.onnx",
            "random-forest",
            RandomForestClassifier(n_estimators=8, max_depth=5, random_state=SEED),
            TRAIN,
            False,
        ),
        ("logreg_zipmap.onnx", "logistic-regression", LogisticRegression(max_iter=2000), TRAIN, True),
        ("svc.onnx", "svc", SVC(kernel="linear", probability=True, random_state=SEED), 60, False),
    ]


def export(est, x, zipmap):
    options = None if zipmap else {id(est): {"zipmap": False}}
    model = to_onnx(est, x[:1], options=options)
    # skl2onnx lists the opsets in set order, which varies from run to run: sort them so that the
    # files are reproducible byte for byte.
    opsets = sorted(model.opset_import, key=lambda o: (o.domain, o.version))
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    return model


def reference_answers(model, x):
    """(label, probabilities) from onnx's reference evaluator, None where it cannot run the graph."""
    try:
        label, probs = ReferenceEvaluator(model).run(None, {"X": x})
    except Exception as e:  # an operator the reference evaluator lacks: nothing to cross-check
        print(f"  (onnx reference evaluator cannot run it: {type(e).__name__}: {e})", file=sys.stderr)
        return None
    return np.asarray(label), np.asarray(probs)


def main(argv):
    if len(argv) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = os.path.normpath(argv[0] if argv else DEFAULT_OUT)
    got = {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__, "onnx": onnx.__version__,
           "numpy": np.__version__}
    if got != VERSIONS:
        print(f"warning: fixtures were made with {VERSIONS}, running {got}", file=sys.stderr)
    warnings.filterwarnings("ignore")
    os.makedirs(out, exist_ok=True)
    x, y = digits()
    held = np.arange(TRAIN, len(x), EXPECTED_STEP)
    expected = {
        "generator": "scripts/make_sklearn_fixture.py",
        "versions": got,
        "data": "sklearn load_digits, pixels / 16 (float32), row-major 1x8x8 = mown's embedded digits",
        "train": f"images 0..{TRAIN} (svc.onnx: 0..60)",
        "shape": [1, 8, 8],
        "classes": 10,
        "indices": held.tolist(),
        "targets": y[held].tolist(),
        "inputs": x[held].tolist(),
        "models": {},
    }
    for name, family, est, n_train, zipmap in models():
        est.fit(x[:n_train], y[:n_train])
        model = export(est, x, zipmap)
        path = os.path.join(out, name)
        onnx.save(model, path)
        size = os.path.getsize(path)
        assert size < MAX_BYTES, f"{name} is {size} bytes"
        labels = est.predict(x[held])
        probs = est.predict_proba(x[held].astype(np.float32))
        accuracy = float((est.predict(x[TRAIN:]) == y[TRAIN:]).mean())
        entry = {
            "family": family,
            "params": {k: v for k, v in est.get_params().items() if isinstance(v, (int, float, str, bool, tuple))},
            "train_images": n_train,
            "zipmap": zipmap,
            "test_accuracy": round(accuracy, 4),
            "labels": labels.tolist(),
        }
        if not zipmap and family != "svc":  # the files the tests run (the others must be refused)
            entry["probabilities"] = np.round(probs, 7).tolist()
        if not zipmap:
            ref = reference_answers(model, x[held])
            if ref is not None:
                label, ref_probs = ref
                diff = float(np.abs(ref_probs - probs).max())
                entry["reference_max_prob_diff"] = diff
                # svc.onnx only has to be refused (tract lacks SVMClassifier); onnx's reference
                # SVMClassifier does not reproduce libsvm's pairwise-coupled probabilities.
                if family != "svc":
                    assert (label == labels).all(), f"{name}: ONNX label output differs from sklearn's predict"
                    assert diff < 1e-5, f"{name}: ONNX probabilities differ from predict_proba by {diff}"
        expected["models"][name] = entry
        print(f"{name}: {size} bytes, {family}, held-out accuracy {accuracy:.3f}")
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(expected['models'])} ONNX files and expected.json to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
