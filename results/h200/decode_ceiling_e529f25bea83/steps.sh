#!/bin/bash
# main e529f25: the stream-read GPU tests ([l2]: every shape, the blocked ones included) and the
# decode split-merge test; fa-bench calibrate (read ceiling with the blocked shapes); the ceiling's
# decode cases against that calibration, and cuDNN over their plan.
S=.devbuild/s19; W=$OUT/w; mkdir -p $W /tmp/b
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
M=/tmp/b/main/fa-bench
step 120 gpu_tests_l2.txt /tmp/b/main/fabench_gpu_tests "[l2]" -r compact
step 60 gpu_tests_decode_merge.txt /tmp/b/main/fabench_gpu_tests "decode's split merge*" -r compact
export FABENCH_CALIBRATION=$W/calibration.json
step 240 calibrate.txt $M calibrate
step 120 decode_ceiling.txt $M --config $S/decode-ceiling.config.json --output $W/ceiling --overwrite
$M plan --config $S/decode-ceiling.config.json -o $W/ceiling/plan.json
step 120 peers.txt python3 -u scripts/peers.py --plan $W/ceiling/plan.json --peers cudnn --output $W/ceiling/decode-peers.csv
pack; rm -rf $W
