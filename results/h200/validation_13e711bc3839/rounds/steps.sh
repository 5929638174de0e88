#!/bin/bash
# main at 13e711b: issue 17's ceiling cases and cuDNN over the same plan, in turn, twice (the lease
# before gave a bimodal cuDNN median at batch 16 x 4k).
S=.devbuild/s50; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
M=/tmp/b/head
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
$M/fa-bench --version >> $W/gpu.txt
export FABENCH_CALIBRATION=$S/calibration.json
$M/fa-bench plan --config $S/decode-ceiling.config.json -o $W/plan_decode.json >> $W/plan.log 2>&1
for r in 1 2; do
  step 90 decode.txt $M/fa-bench --config $S/decode-ceiling.config.json --output $W/round$r
  step 120 decode_peers.txt python3 -u scripts/peers.py --plan $W/plan_decode.json --peers cudnn --output $W/round$r/decode-peers.csv
done
pack; cat $W/steps.txt
