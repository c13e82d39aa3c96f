#!/usr/bin/env bash
# Issue #26's thief outside mown, end to end on the embedded digits: an arc-c owner served by
# `mown serve` (labels only), scikit-learn copies trained on 1,000 label queries
# (bench/sklearn_thief.py), and every black-box method's verdict on them, on mown's own copies,
# and on independent models nobody here trained (bench/sklearn_negatives.py) and mown models.
#   bash bench/verdicts_thief_digits.sh OUT_DIR     (VERIFY_ARGS=--pooled-threshold for the pooled calibration)
# Needs: target/release/mown, and scikit-learn + skl2onnx (pip install scikit-learn==1.9.1
# skl2onnx==1.20.0). The negatives that calibrate every verdict are `mown negatives` (12 models,
# 4 families); the scikit-learn independents are test negatives only.
set -euo pipefail
out=${1:?usage: verdicts_thief_digits.sh OUT_DIR}
mown=${MOWN:-target/release/mown}
py=${PYTHON:-python3}
mkdir -p "$out"
[ -f "$out/owner.safetensors" ] || "$mown" train --arch arc-c --data digits --epochs 30 --seed 1 --out "$out/owner.safetensors" --no-progress
[ -f "$out/neg/negatives.json" ] || "$mown" negatives --data digits --out "$out/neg" --epochs 20
[ -f "$out/skl/manifest.json" ] || "$py" bench/sklearn_negatives.py --data digits --out "$out/skl" --seeds 2
if [ ! -f "$out/thief/manifest.json" ]; then
  "$mown" serve "$out/owner.safetensors" --port 18931 --output labels > "$out/serve.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 50); do curl -sf http://127.0.0.1:18931/health > /dev/null && break; sleep 0.2; done
  "$py" bench/sklearn_thief.py --url http://127.0.0.1:18931 --out "$out/thief" --budget 1000 --output labels
  kill $server; trap - EXIT
fi
[ -f "$out/copy-extract.safetensors" ] || "$mown" steal --victim "$out/owner.safetensors" --attack "extract(mlp,labels,same,budget=1000,epochs=20)" --out "$out/copy-extract.safetensors"
[ -f "$out/copy-ftal.safetensors" ] || "$mown" steal --victim "$out/owner.safetensors" --attack "prune(w,0.5,ft=2)-ftal(2)" --out "$out/copy-ftal.safetensors"
[ -f "$out/ipguard.json" ] || "$mown" fingerprint ipguard --model "$out/owner.safetensors" --out "$out/ipguard.json"
[ -f "$out/akh.json" ] || "$mown" fingerprint akh --model "$out/owner.safetensors" --out "$out/akh.json"
[ -f "$out/sac-w.json" ] || "$mown" fingerprint sac --model "$out/owner.safetensors" --out "$out/sac-w.json"
[ -f "$out/sac-m.json" ] || "$mown" fingerprint sac --probes cutmix --model "$out/owner.safetensors" --out "$out/sac-m.json"
[ -f "$out/sac-w-labels.json" ] || "$mown" fingerprint sac --level labels --model "$out/owner.safetensors" --out "$out/sac-w-labels.json"
[ -f "$out/sac-m-labels.json" ] || "$mown" fingerprint sac --probes cutmix --level labels --model "$out/owner.safetensors" --out "$out/sac-m-labels.json"
for e in ipguard akh sac-w sac-m sac-w-labels sac-m-labels; do
  echo "== $e =="
  for s in "$out"/thief/*.onnx "$out"/copy-*.safetensors "$out"/skl/*.onnx; do
    "$mown" verify --evidence "$out/$e.json" --suspect "$s" --negatives "$out/neg" ${VERIFY_ARGS:-} > "$out/verdict.txt" 2>/dev/null || true
    echo "$(basename "$s"): $(head -1 "$out/verdict.txt")"
  done
done
