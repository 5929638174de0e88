#!/bin/bash
# Issue 17: branch decode-ll (flagged partials, relaxed arrival) against main 5f93997 in one lease:
# the branch's [decode] and [generate] GPU tests, memcheck and racecheck over sanitize_decode.json,
# then decode-ll-ab.config.json main, branch, main, branch, and cuDNN over its plan.
S=.devbuild/s17; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_floor_164eec728c26/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
M=/tmp/b/main/fa-bench; L=/tmp/b/ll/fa-bench
step 120 ll_gpu_tests_decode.txt /tmp/b/ll/fabench_gpu_tests "[decode]" -r compact
step 60 ll_gpu_tests_generate.txt /tmp/b/ll/fabench_gpu_tests "[generate]" -r compact
step 60 ll_memcheck_decode.txt compute-sanitizer --tool memcheck --error-exitcode 9 $L --config configs/sanitize_decode.json --output $W/s1 --overwrite
step 90 ll_racecheck_decode.txt compute-sanitizer --tool racecheck --error-exitcode 9 $L --config configs/sanitize_decode.json --output $W/s2 --overwrite
rm -rf $W/s1 $W/s2
for i in 1 2; do
  step 120 ab_main$i.txt $M --config $S/decode-ll-ab.config.json --output $W/ab_main$i --overwrite
  step 120 ab_ll$i.txt $L --config $S/decode-ll-ab.config.json --output $W/ab_ll$i --overwrite
done
$L plan --config $S/decode-ll-ab.config.json -o $W/ab_ll1/plan.json
step 120 peers.txt python3 -u scripts/peers.py --plan $W/ab_ll1/plan.json --peers cudnn --output $W/ab_ll1/decode-peers.csv
pack; rm -rf $W
