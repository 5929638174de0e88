#!/bin/bash
# Main 99232bf: issue 18's time-tracks-density point (seq 8k, random density 0.1) for every kernel that
# can run it: sparse.wgmma v3, sparse.block_skip and FlexAttention (the sparse config and peers.py over
# its plan), and dense attn.wgmma, cuDNN and FlashAttention-2 with as few keys (short_keys); two rounds.
# .devbuild/s56 held this folder's *.config.json and the build (bins.tar.xz: fa-bench at 99232bf).
S=.devbuild/s56; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
M=/tmp/b/main
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
$M/fa-bench --version >> $W/gpu.txt
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" >> $W/gpu.txt 2>&1
$M/fa-bench plan --config $S/sparse-8k.config.json -o $W/plan_sparse.json >> $W/plan.log 2>&1
$M/fa-bench plan --config $S/short_keys.config.json -o $W/plan_short_keys.json >> $W/plan.log 2>&1
for r in 1 2; do
  step 100 fabench.log $M/fa-bench --config $S/sparse-8k.config.json --output $W/round$r
  step 60 fabench.log $M/fa-bench --config $S/short_keys.config.json --output $W/round$r/short_keys
  step 120 peers.log python3 -u scripts/peers.py --plan $W/plan_sparse.json --peers flex --output $W/round$r/sparse-8k-flex.csv
  step 120 peers.log python3 -u scripts/peers.py --plan $W/plan_short_keys.json --peers 'cudnn|flash' --output $W/round$r/short_keys/peers.csv
done
step 60 fabench.log $M/fa-bench --config $S/scaling.config.json --output $W/round1/scaling
pack; cat $W/steps.txt
