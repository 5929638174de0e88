#!/bin/bash
# Branch ws-stamps (diagnostic): when the warp-specialized loop's blocks start, ask for their first
# Q and end, against the events' time, for sparse.wgmma v3 at seq 8k random density 0.05 / 0.1 / 1
# (batch 1 and 2), 16k density 0.1 (batch 1), attn.wgmma with 768 keys (batch 2).
S=.devbuild/s42; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
M=/tmp/b/stamps
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
$M/fa-bench --version >> $W/gpu.txt
step 120 stamps.txt $M/fa-bench --config $S/stamps.config.json --output $W/stamps
pack; cat $W/steps.txt
