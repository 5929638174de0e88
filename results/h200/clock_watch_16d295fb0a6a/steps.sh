#!/bin/bash
# Issue 18 diagnostic with bins of 16d295f (kernels as 6b5c827): sparse.wgmma v3 at seq 8k density 0.1 and 1, four runs in a row,
# with nvidia-smi logging the SM clock, power draw and active throttle reasons every 50 ms.
S=.devbuild/s26; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit,temperature.gpu --format=csv > $W/gpu.txt
/tmp/b/main/fa-bench --version >> $W/gpu.txt
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv -lms 50 > $W/clocks.csv 2>&1 &
SMI=$!
nvidia-smi --query-gpu=timestamp,clocks_event_reasons.active --format=csv -lms 50 > $W/reasons.csv 2>&1 &
SMI2=$!
for r in 1 2 3 4 5; do
  date +%H:%M:%S.%N >> $W/run_times.txt
  step 60 runs.txt /tmp/b/main/fa-bench --config $S/density_clocks.config.json --output $W/run$r --overwrite
done
date +%H:%M:%S.%N >> $W/run_times.txt
pack
# Issue 18's figures at this revision: every pattern and density of configs/sparse.json at seq 8k
# and 16k, and FlexAttention over the same plans.
M=/tmp/b/main
for s in 8k 16k; do
  $M/fa-bench plan --config $S/sparse-$s.config.json -o $W/plan$s.json >> $W/plan.log 2>&1
  step 120 fabench.log $M/fa-bench --config $S/sparse-$s.config.json --output $W/sweep$s
done
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" >> $W/gpu.txt 2>&1
for s in 8k 16k; do
  step 200 flex.log python3 -u scripts/peers.py --plan $W/plan$s.json --peers flex --output $W/flex$s.csv
done
kill $SMI $SMI2; pack; cat $W/steps.txt
