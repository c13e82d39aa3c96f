#!/usr/bin/env python3
"""A thief outside mown: scikit-learn models trained on the answers of a served model.

    python3 bench/sklearn_thief.py --url http://127.0.0.1:8080 --out DIR [--budget 1000]
                                   [--output labels|probs] [--seeds K] [--token T]
                                   [--data digits|fashion-mnist] [--fashion-dir DIR]

The thief of issue #26: it draws --budget images of the UCI 8x8 digits (sklearn's load_digits,
the images mown embeds; pixels / 16), sends them to `mown serve`'s /v1/predict, trains
scikit-learn classifiers on the answers (labels; with --output probs the argmax, which is all a
scikit-learn classifier fits) and exports them with skl2onnx as DIR/thief-<family>-s<seed>.onnx
(input X float [N, 64], outputs label and probabilities, zipmap off), plus DIR/manifest.json
with the queries used, each copy's agreement with the served answers on held-out images and its
accuracy. The query images are drawn from sklearn's train_test_split(test_size=0.25,
random_state=0) training part, so the held-out part is never queried.

With --data fashion-mnist (issue #26's Fashion-MNIST thief) the queries are drawn from the last
30,000 Fashion-MNIST training images (the IDX files of the Debian package, read as
bench/sklearn_negatives.py reads them; input X float [N, 784]) and agreement is measured on the
first 2,000 test images.

Needs scikit-learn and skl2onnx (pip install scikit-learn==1.9.1 skl2onnx==1.20.0).
"""

import argparse
import json
import pathlib
import sys
import urllib.request

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from skl2onnx import to_onnx


def predict(url, token, images, output):
    labels = []
    for start in range(0, len(images), 256):
        body = json.dumps({"inputs": images[start:start + 256].tolist(), "output": output}).encode()
        req = urllib.request.Request(url.rstrip("/") + "/v1/predict", data=body,
                                     headers={"Content-Type": "application/json"})
        if token:
            req.add_header("Authorization", "Bearer " + token)
        with urllib.request.urlopen(req) as resp:
            answer = json.load(resp)
        if answer.get("labels") is not None:
            labels.extend(answer["labels"])
        elif answer.get("probabilities") is not None:
            labels.extend(int(np.argmax(p)) for p in answer["probabilities"])
        else:
            raise SystemExit(f"the API answered {answer.get('output')}, which this thief does not read")
    return np.array(labels), answer["queries_used"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--output", default="labels")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--token")
    ap.add_argument("--data", default="digits")
    ap.add_argument("--fashion-dir", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.data == "digits":
        digits = load_digits()
        x = (digits.data / 16.0).astype(np.float32)
        x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.25, random_state=0)
    elif a.data == "fashion-mnist":
        sys.path.insert(0, str(pathlib.Path(__file__).parent))
        from sklearn_negatives import load_data
        x_all, y_all, x_test, y_test, _, _ = load_data("fashion-mnist", None, a.fashion_dir)
        x_train, y_train = x_all[30000:], y_all[30000:]
        x_test, y_test = x_test[:2000], y_test[:2000]
    else:
        raise SystemExit(f"unknown data set {a.data!r} (digits, fashion-mnist)")
    rng = np.random.default_rng(0)
    picked = rng.choice(len(x_train), size=min(a.budget, len(x_train)), replace=False)
    queries = x_train[picked]
    answers, used = predict(a.url, a.token, queries, a.output)
    served_test, _ = predict(a.url, a.token, x_test, a.output)
    # What the thief learned from the owner beyond the true labels: the answers that differ.
    differing = int(np.sum(answers != y_train[picked]))
    print(f"{len(queries)} label queries; {differing} answers differ from the true labels; "
          f"the served model agrees with the truth on {np.mean(served_test == y_test):.3f} of the held-out images")
    families = {
        "mlp": lambda s: MLPClassifier(hidden_layer_sizes=(64,) if a.data == "digits" else (128,), max_iter=500,
                                       random_state=s),
        "logistic-regression": lambda s: LogisticRegression(max_iter=2000),
        "random-forest": lambda s: RandomForestClassifier(n_estimators=16, max_depth=10, random_state=s),
    }
    manifest = {"url": a.url, "data": a.data, "budget": len(queries), "output": a.output, "queries_used_for_training": len(queries),
                "server_queries_used": used, "answers_differing_from_truth": differing,
                "served_accuracy_on_held_out": float(np.mean(served_test == y_test)), "copies": []}
    for family, make in families.items():
        for seed in range(a.seeds if family != "logistic-regression" else 1):
            model = make(seed).fit(queries, answers)
            onx = to_onnx(model, queries[:1], options={id(model): {"zipmap": False}}, target_opset=17)
            name = f"thief-{family}-s{seed}.onnx"
            (out / name).write_bytes(onx.SerializeToString())
            pred = model.predict(x_test)
            manifest["copies"].append({"file": name, "family": family, "seed": seed,
                                       "agreement_with_served": float(np.mean(pred == served_test)),
                                       "accuracy": float(np.mean(pred == y_test))})
            print(f"{name}: agreement {manifest['copies'][-1]['agreement_with_served']:.3f}, "
                  f"accuracy {manifest['copies'][-1]['accuracy']:.3f}")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
