#!/usr/bin/env bash
# Verdicts on the embedded digits against independent models nobody here trained (scikit-learn via
# skl2onnx) and mown models of a family absent from the negatives (issue #25 (c)).
#   bash bench/verdicts_digits.sh OUT_DIR [K]
# Needs: target/release/mown (cargo build --release), and scikit-learn + skl2onnx for
# bench/sklearn_negatives.py (pip install scikit-learn==1.9.1 skl2onnx==1.20.0).
set -euo pipefail
out=${1:?usage: verdicts_digits.sh OUT_DIR [K]}
k=${2:-2}
mown=${MOWN:-target/release/mown}
py=${PYTHON:-python3}
mkdir -p "$out"
[ -f "$out/skl/manifest.json" ] || "$py" bench/sklearn_negatives.py --data digits --out "$out/skl" --seeds 2
[ -f "$out/owner.safetensors" ] || "$mown" train --arch arc-c --data digits --epochs 30 --seed 1 --out "$out/owner.safetensors" --no-progress
[ -f "$out/neg/negatives.json" ] || "$mown" negatives --data digits --out "$out/neg" --epochs 20
mkdir -p "$out/other"
for arch in resnet20; do
  for seed in 2001 2002; do
    f="$out/other/$arch-$seed.safetensors"
    [ -f "$f" ] || "$mown" train --arch "$arch" --data digits --epochs 20 --seed "$seed" --out "$f" --no-progress
  done
done
[ -f "$out/copy-ftal.safetensors" ] || "$mown" steal --victim "$out/owner.safetensors" --attack "prune(w,0.5,ft=2)-ftal(2)" --out "$out/copy-ftal.safetensors"
[ -f "$out/copy-extract.safetensors" ] || "$mown" steal --victim "$out/owner.safetensors" --attack "extract(arc-c,labels,same,budget=1000,epochs=20)" --out "$out/copy-extract.safetensors"
"$mown" fingerprint ipguard --model "$out/owner.safetensors" --k "$k" --out "$out/fp-k$k.json"
negs=${NEGATIVES:-$out/neg}
for s in "$out"/copy-*.safetensors "$out"/other/*.safetensors "$out"/skl/*.onnx; do
  "$mown" verify --evidence "$out/fp-k$k.json" --suspect "$s" --negatives "$negs" > "$out/verdict.txt" 2>/dev/null || true
  echo "$(basename "$s"): $(head -1 "$out/verdict.txt")"
done
