#!/bin/bash
# Issue 17's targets at main cfff15d (paged caches at all resident blocks, the mixed-length planner),
# cuDNN over the same plan in the same lease; the [decode] GPU test and memcheck first.
S=.devbuild/s16; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_floor_164eec728c26/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
M=/tmp/b/main/fa-bench
step 100 gpu_tests_decode.txt /tmp/b/main/fabench_gpu_tests "[decode]" -r compact
step 60 memcheck_decode.txt compute-sanitizer --tool memcheck --error-exitcode 9 $M --config configs/sanitize_decode.json --output $W/s1 --overwrite
rm -rf $W/s1
step 300 decode_targets.txt $M --config $S/decode-targets.config.json --output $W/targets --overwrite
$M plan --config $S/decode-targets.config.json -o $W/targets/plan.json
step 120 peers.txt python3 -u scripts/peers.py --plan $W/targets/plan.json --peers cudnn --output $W/targets/decode-peers.csv
pack; rm -rf $W
