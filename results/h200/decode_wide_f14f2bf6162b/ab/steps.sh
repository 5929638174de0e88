#!/bin/bash
# Timing. x: 0e0ebd7 plus switch.diff (FABENCH_DECODE_WIDE: off = main's 4-warp instance everywhere,
# one = 0e0ebd7, the wide 8-warp instance at one split a sequence, all = the wide instance on every
# contiguous d 128 plan); d: 0e0ebd7 plus no_merge.diff (diagnostic: no arrival or merge of the
# splits). Each config in turn twice; cuDNN over the same plans once.
S=.devbuild/s51; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
X=/tmp/b/x/fa-bench
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
for x in $X /tmp/b/d/fa-bench; do $x --version >> $W/gpu.txt; done
export FABENCH_CALIBRATION=.devbuild/s50/calibration.json
for r in 1 2; do
  FABENCH_DECODE_WIDE=off step 120 one.txt $X --config $S/one-split.config.json --output $W/one_main$r
  FABENCH_DECODE_WIDE=one step 120 one.txt $X --config $S/one-split.config.json --output $W/one_wide$r
done
for r in 1 2; do
  FABENCH_DECODE_WIDE=off step 60 many.txt $X --config $S/many-splits.config.json --output $W/many_main$r
  FABENCH_DECODE_WIDE=all step 60 many.txt $X --config $S/many-splits.config.json --output $W/many_wideall$r
  step 60 many.txt /tmp/b/d/fa-bench --config $S/many-splits-nv.config.json --output $W/many_nomerge$r
done
$X plan --config $S/one-split.config.json -o $W/plan_one.json >> $W/plan.log 2>&1
$X plan --config $S/many-splits.config.json -o $W/plan_many.json >> $W/plan.log 2>&1
step 150 peers.txt python3 -u scripts/peers.py --plan $W/plan_one.json --peers cudnn --output $W/one-peers.csv
step 90 peers.txt python3 -u scripts/peers.py --plan $W/plan_many.json --peers cudnn --output $W/many-peers.csv
pack; cat $W/steps.txt
