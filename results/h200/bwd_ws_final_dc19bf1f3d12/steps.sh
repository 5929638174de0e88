#!/bin/bash
# main dc19bf1: bwd.wgmma pipeline 2 default at d128, delta pass zeroing dQ, vector dQ conversion; validated and timed.
S=.devbuild/s5; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; echo "rc=$? wall=$((SECONDS - t0)) s" >> $W/$log; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
M=/tmp/b/m
step 90 gpu_tests_bwd.txt $M/fabench_gpu_tests "[bwd]" -r compact
step 60 san_bwd_memcheck.txt compute-sanitizer --tool memcheck --error-exitcode 9 $M/fa-bench --config configs/sanitize_bwd.json --output $W/s1 --overwrite
step 100 bwd_ab.txt $M/fa-bench --config $S/bwd-ab.config.json --output $W/bwd-ab --overwrite
$M/fa-bench plan --config $S/bwd-ab.config.json -o $W/bwd-plan.json
step 90 bwd_peers.txt python3 -u scripts/peers.py --plan $W/bwd-plan.json --peers 'flash|cudnn' --output $W/bwd-peers.csv
pack; rm -rf $W
