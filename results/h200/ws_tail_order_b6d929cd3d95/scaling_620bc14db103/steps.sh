#!/bin/bash
# main at 620bc14: sparse.wgmma v3 at random density 0.1 and 1 over batch 1-8 (seq 8k) and 1-4
# (16k), attn.wgmma with 768 / 8192 keys over batch 1-8: a launch's fixed cost against a tile's;
# cuDNN over the same plan's dense cases.
S=.devbuild/s41; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c .devbuild/s39/bins.tar.xz | tar -C /tmp/b -xf -
M=/tmp/b/final
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
$M/fa-bench --version >> $W/gpu.txt
$M/fa-bench plan --config $S/scaling.config.json -o $W/plan.json >> $W/plan.log 2>&1
step 150 runs.txt $M/fa-bench --config $S/scaling.config.json --output $W/scaling
step 150 peers.txt python3 -u scripts/peers.py --plan $W/plan.json --peers cudnn --output $W/scaling-peers.csv
pack; cat $W/steps.txt
