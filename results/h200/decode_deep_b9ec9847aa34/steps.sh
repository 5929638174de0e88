#!/bin/bash
# Issue 17: branch decode-deep b9ec984 (contiguous d128 at 6 stages; deep4: the same built with 4)
# against main 5f93997 (3 stages) in one lease: deep6's [decode] GPU test, memcheck and racecheck
# over sanitize_decode.json, then decode-deep-ab.config.json main, deep6, deep4, twice, and cuDNN.
S=.devbuild/s20; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_ceiling_e529f25bea83/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
for i in 1 2; do for v in main deep6 deep4; do
  step 90 ab_$v$i.txt /tmp/b/$v/fa-bench --config $S/decode-deep-ab.config.json --output $W/ab_$v$i --overwrite
done; done
/tmp/b/deep6/fa-bench plan --config $S/decode-deep-ab.config.json -o $W/ab_deep61/plan.json
step 90 peers.txt python3 -u scripts/peers.py --plan $W/ab_deep61/plan.json --peers cudnn --output $W/ab_deep61/decode-peers.csv
step 120 deep6_gpu_tests_decode.txt /tmp/b/deep6/fabench_gpu_tests "[decode]" -r compact
step 60 deep6_memcheck_decode.txt compute-sanitizer --tool memcheck --error-exitcode 9 /tmp/b/deep6/fa-bench --config configs/sanitize_decode.json --output $W/s1 --overwrite
step 90 deep6_racecheck_decode.txt compute-sanitizer --tool racecheck --error-exitcode 9 /tmp/b/deep6/fa-bench --config configs/sanitize_decode.json --output $W/s2 --overwrite
rm -rf $W/s1 $W/s2
pack; rm -rf $W
