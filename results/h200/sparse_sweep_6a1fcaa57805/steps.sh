#!/bin/bash
W=/tmp/w3; rm -rf $W; mkdir -p $W
pack() { tar -C $W -cf $OUT/w3.tar . 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; echo "rc=$? wall=$((SECONDS - t0)) s" >> $W/$log; pack; }
S=.devbuild/s3
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.sm,temperature.gpu,power.draw --format=csv > $W/gpu.txt 2>&1
mkdir -p /tmp/b && xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf - ; ls -la /tmp/b/* >> $W/steps.txt
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
M=/tmp/b/main
step 60 gpu_tests_sparse.txt $M/fabench_gpu_tests "[sparse]"
for s in 8k 16k; do
  $M/fa-bench plan --config $S/sparse-$s.config.json -o $W/plan$s.json >> $W/plan.log 2>&1
  step 90 fabench.log $M/fa-bench --config $S/sparse-$s.config.json --output $W/fabench$s
done
for s in 8k 16k; do
  step 150 flex.log python3 -u scripts/peers.py --plan $W/plan$s.json --peers flex --output $W/flex$s.csv
done
pack
