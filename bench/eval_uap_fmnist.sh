#!/usr/bin/env bash
# UAP fingerprint (seed 003) against IPGuard on the Fashion-MNIST zoo (bench/zoo-fmnist-cpu.toml), with
# encoder references that are not zoo members: 5 piracy (extractions into other architectures / budgets
# than the zoo's) and 5 homologous models (Arc B-E and LeNet-5 over SGD / Adam / RMSprop, batch 64-256).
#   bash bench/eval_uap_fmnist.sh [OUT_PREFIX]      (needs target/release/mown; builds into the zoo cache)
set -euo pipefail
out=${1:-docs/results/eval-uap-fmnist}
mown=${MOWN:-target/release/mown}
piracy='extract(arc-b,probs,same,budget=12000,epochs=4);extract(arc-d,probs,same,budget=12000,epochs=3);extract(arc-e,labels,same,budget=15000,epochs=4);extract(lenet5,probs,same,budget=15000,epochs=4);extract(arc-c,probs,same,budget=8000,epochs=3)'
homologous='train(arc-b,fmnist,seed=11,epochs=4,part=2/4,opt=adam,batch=64);train(arc-c,fmnist,seed=12,epochs=4,part=3/4,opt=rmsprop,batch=256);train(arc-d,fmnist,seed=13,epochs=4,part=4/4);train(arc-e,fmnist,seed=14,epochs=4,part=2/4,opt=adam);train(lenet5,fmnist,seed=15,epochs=4,part=3/4,batch=64)'
"$mown" eval-method uap,ipguard --zoo bench/zoo-fmnist-cpu.toml --k 2 --uap-piracy "$piracy" \
  --uap-homologous "$homologous" --json "$out.json" 2>&1 | tee "$out.txt"
