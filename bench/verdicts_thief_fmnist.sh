#!/usr/bin/env bash
# Issue #26's thief outside mown on Fashion-MNIST: the zoo victim of bench/zoo-fmnist-cpu.toml
# (Arc A, 4 epochs on a quarter of the training set) served by `mown serve` (labels only),
# scikit-learn copies trained on 10,000 label queries (bench/sklearn_thief.py --data
# fashion-mnist), and each black-box method's verdict on them and on independent scikit-learn
# models nobody here trained (bench/sklearn_negatives.py), calibrated on the zoo's 21 independent
# mown models (5 architecture families).
#   mown zoo --config bench/zoo-fmnist-cpu.toml     (or any run that builds its victim and independents)
#   bash bench/verdicts_thief_fmnist.sh OUT_DIR     (VERIFY_ARGS=--pooled-threshold for the pooled calibration)
# Needs: target/release/mown, scikit-learn + skl2onnx (pip install scikit-learn==1.9.1 skl2onnx==1.20.0).
set -euo pipefail
out=${1:?usage: verdicts_thief_fmnist.sh OUT_DIR}
mown=${MOWN:-target/release/mown}
py=${PYTHON:-python3}
cache=${CACHE:-bench/zoo-fmnist-cpu-cache}
mkdir -p "$out/neg"
owner=$(ls "$cache"/train_arc_a_fmnist_seed_1_epochs_4_part_1_4_-*.safetensors | head -1)
# The zoo's independent models: every root train(...) chain of the zoo but the victim's.
for f in "$cache"/train_*_fmnist_seed_[2-7]_epochs_[34]_part_[1-4]_4_-*.safetensors; do
  ln -sf "$(realpath "$f")" "$out/neg/$(basename "$f")"
done
echo "owner $owner; $(ls "$out/neg" | wc -l) independent mown models"
[ -f "$out/skl/manifest.json" ] || "$py" bench/sklearn_negatives.py --data fashion-mnist --out "$out/skl" --max-train 20000 --families mlp,logistic-regression,random-forest --seeds 2
if [ ! -f "$out/thief/manifest.json" ]; then
  "$mown" serve "$owner" --port 18932 --output labels > "$out/serve.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 50); do curl -sf http://127.0.0.1:18932/health > /dev/null && break; sleep 0.2; done
  "$py" bench/sklearn_thief.py --url http://127.0.0.1:18932 --out "$out/thief" --budget 10000 --output labels --data fashion-mnist
  kill $server; trap - EXIT
fi
[ -f "$out/ipguard.json" ] || "$mown" fingerprint ipguard --model "$owner" --out "$out/ipguard.json"
[ -f "$out/akh.json" ] || "$mown" fingerprint akh --model "$owner" --out "$out/akh.json"
[ -f "$out/sac-m.json" ] || "$mown" fingerprint sac-m --model "$owner" --out "$out/sac-m.json"
[ -f "$out/sac-m-labels.json" ] || "$mown" fingerprint 'sac-m[labels]' --model "$owner" --out "$out/sac-m-labels.json"
methods="ipguard akh sac-m sac-m-labels"
# Dataset inference walks every negative again for each suspect (about 10 min per suspect with 21
# negatives on 2 cores), so it runs only when asked: DI=1.
if [ -n "${DI:-}" ]; then
  [ -f "$out/di.json" ] || "$mown" fingerprint dataset-inference --model "$owner" --out "$out/di.json"
  methods="$methods di"
fi
for e in $methods; do
  echo "== $e =="
  for s in "$out"/thief/*.onnx "$out"/skl/*.onnx; do
    "$mown" verify --evidence "$out/$e.json" --suspect "$s" --negatives "$out/neg" ${VERIFY_ARGS:-} > "$out/verdict.txt" 2>/dev/null || true
    echo "$(basename "$(dirname "$s")")/$(basename "$s"): $(head -1 "$out/verdict.txt")"
  done
done
