#!/bin/bash
# Main fb5fc8f: issue 18's seq 8k and 16k sweeps with FlexAttention over the same plans; then branch
# ws-first-steps-l2 against main, the sparse and dense A/B configs in turn, twice.
S=.devbuild/s48; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c .devbuild/s47/bins.tar.xz | tar -C /tmp/b -xf - && mv /tmp/b/merged /tmp/b/main
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
M=/tmp/b/main
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
for x in main first; do /tmp/b/$x/fa-bench --version >> $W/gpu.txt; done
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" >> $W/gpu.txt 2>&1
for s in 8k 16k; do
  $M/fa-bench plan --config $S/sparse-$s.config.json -o $W/plan$s.json >> $W/plan.log 2>&1
  step 100 fabench.log $M/fa-bench --config $S/sparse-$s.config.json --output $W/sweep$s
done
for s in 8k 16k; do
  step 120 flex.log python3 -u scripts/peers.py --plan $W/plan$s.json --peers flex --output $W/flex$s.csv
done
for r in 1 2; do
  for x in main first; do
    step 60 runs.txt /tmp/b/$x/fa-bench --config $S/tail_ab.config.json --output $W/sparse_$x$r --overwrite
    step 60 runs.txt /tmp/b/$x/fa-bench --config $S/dense_ab.config.json --output $W/dense_$x$r --overwrite
  done
done
pack; cat $W/steps.txt
