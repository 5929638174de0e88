#!/bin/bash
# Replication on another lease: f14f2bf (head: the wide instance by the planner's rule) against main's
# 4-warp instance everywhere (x = 0e0ebd7 plus ../s51/switch.diff at FABENCH_DECODE_WIDE=off), and cuDNN
# over the same plans, in turn, twice.
S=.devbuild/s53; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
X=/tmp/b/x/fa-bench; H=/tmp/b/head/fa-bench
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
$X --version >> $W/gpu.txt; $H --version >> $W/gpu.txt
export FABENCH_CALIBRATION=.devbuild/s50/calibration.json
$H plan --config $S/one-split.config.json -o $W/plan_one.json >> $W/plan.log 2>&1
$H plan --config $S/many-splits.config.json -o $W/plan_many.json >> $W/plan.log 2>&1
for r in 1 2; do
  FABENCH_DECODE_WIDE=off step 100 one.txt $X --config $S/one-split.config.json --output $W/one_main$r
  step 100 one.txt $H --config $S/one-split.config.json --output $W/one_head$r
  step 60 peers.txt python3 -u scripts/peers.py --plan $W/plan_one.json --peers cudnn --output $W/one_cudnn$r.csv
  FABENCH_DECODE_WIDE=off step 40 many.txt $X --config $S/many-splits.config.json --output $W/many_main$r
  step 40 many.txt $H --config $S/many-splits.config.json --output $W/many_head$r
  step 60 peers.txt python3 -u scripts/peers.py --plan $W/plan_many.json --peers cudnn --output $W/many_cudnn$r.csv
done
pack; cat $W/steps.txt
