#!/bin/bash
# main 9f7c0ba: bwd.wgmma pipeline 2 the default at d128, the delta pass zeroing dQ; validated and timed.
S=.devbuild/s4; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; echo "rc=$? wall=$((SECONDS - t0)) s" >> $W/$log; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
M=/tmp/b/m
step 40 sanitize_bwd_run.txt $M/fa-bench --config configs/sanitize_bwd.json --output $W/s0 --overwrite
if grep -q "rc=0" $W/sanitize_bwd_run.txt; then
  step 60 san_bwd_memcheck.txt compute-sanitizer --tool memcheck --error-exitcode 9 $M/fa-bench --config configs/sanitize_bwd.json --output $W/s1 --overwrite
  step 120 san_bwd_racecheck.txt compute-sanitizer --tool racecheck --error-exitcode 9 $M/fa-bench --config configs/sanitize_bwd.json --output $W/s2 --overwrite
  step 60 san_bwd_synccheck.txt compute-sanitizer --tool synccheck --error-exitcode 9 $M/fa-bench --config configs/sanitize_bwd.json --output $W/s3 --overwrite
  step 120 bwd_ab.txt $M/fa-bench --config $S/bwd-ab.config.json --output $W/bwd-ab --overwrite
  $M/fa-bench plan --config $S/bwd-ab.config.json -o $W/bwd-plan.json
  step 90 bwd_peers.txt python3 -u scripts/peers.py --plan $W/bwd-plan.json --peers 'flash|cudnn' --output $W/bwd-peers.csv
  step 150 gpu_tests_bwd.txt $M/fabench_gpu_tests "[bwd]" -r compact
fi
pack; rm -rf $W
