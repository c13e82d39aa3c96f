#!/usr/bin/env bash
# Seed 003's evaluation on its own kind of zoo (issue #25 parts 3-4): bench/zoo-uap-paper-fmnist.toml's
# 24 piracy against its 20 homologous models, UAP (with encoder references that are not zoo members:
# 5 piracy, 5 homologous, none of the victim's architecture, as in seed 003 §3) against IPGuard, AKH and
# SAC-m, then the ablations (n, top-k answers) on the UAP alone.
#   bash bench/uap_paper_fmnist.sh [OUT_PREFIX]     (builds the zoo and references into the zoo cache)
set -euo pipefail
out=${1:-docs/results/uap-paper-fmnist}
zoo=bench/zoo-uap-paper-fmnist.toml
piracy='extract(arc-b,probs,same,budget=5000,epochs=2);extract(arc-c,probs,same,budget=3000,epochs=2);extract(arc-d,probs,same,budget=4000,epochs=1);extract(arc-e,probs,same,budget=6000,epochs=2);extract(lenet5,probs,same,budget=7500,epochs=2)'
homologous='train(arc-b,fmnist,seed=201,epochs=2,part=1/8,overlap=0.5,opt=adam);train(arc-c,fmnist,seed=202,epochs=2,part=1/8,overlap=0.4,batch=64);train(arc-d,fmnist,seed=203,epochs=2,part=1/8,overlap=0.6,opt=rmsprop,batch=256);train(arc-e,fmnist,seed=204,epochs=2,part=1/8,overlap=0.2,batch=256);train(lenet5,fmnist,seed=205,epochs=3,part=1/8,overlap=0.8)'
# Built by `cargo build --release --workspace --all-targets` (one feature set: no rebuild of dependencies).
run() { target/release/examples/uap_paper_zoo "$zoo" "$piracy" "$homologous" "$@"; }
run methods=uap,ipguard,akh,sac-m json="$out.json" 2>&1 | tee "$out.txt"
if [ "${ABLATIONS:-1}" = 1 ]; then
  # Cheaper runs: every 2nd piracy and homologous model, 100 encoder views, 20 verification views, the
  # main setting first as the reference. top-k = 10 is the full probability vector on 10 classes.
  # LAP (perturbation=local) runs DeepFool on every image the views use: with all 10 classes that took
  # over 12 minutes here, so its candidate classes are the top 3 (local_candidates=top:3).
  : > "$out-ablations.txt"
  for extra in n=100 perturbation=local,local_candidates=top:3 n=10 n=30 n=70 level=topk:1 level=topk:3; do
    echo "### ablation $extra (subset=2 views=100 verify_views=20)" | tee -a "$out-ablations.txt"
    run "methods=uap[views=100,verify_views=20,$extra]" subset=2 2>&1 | grep -v '^\(piracy\|homologous\) ' | tee -a "$out-ablations.txt"
  done
fi
