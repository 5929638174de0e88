#!/bin/bash
# Branch ws-tail-order: sparse.wgmma v3's tail window at two draws a block (w2, b6d929c) against one
# (w1) and four (w4), the same code with kTailWindowBlocks 1 and 4, in turn, twice.
S=.devbuild/s44; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c .devbuild/s43/bins.tar.xz | tar -C /tmp/b -xf -
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
mv /tmp/b/tail /tmp/b/w2
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
for r in 1 2; do
  for w in w2 w1 w4; do
    step 60 runs.txt /tmp/b/$w/fa-bench --config $S/tail_window.config.json --output $W/sparse_$w$r --overwrite
  done
done
pack; cat $W/steps.txt
