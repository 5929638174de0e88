#!/bin/bash
# f14f2bf (the wide instance by the planner's rule): the [decode] GPU tests, memcheck and racecheck
# over configs/sanitize_decode.json, then every decode case of issue 17's targets with cuDNN over the
# same plan (calibration of .devbuild/s50, the same lease's as results/h200/validation_13e711bc3839).
S=.devbuild/s52; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
M=/tmp/b/head
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
$M/fa-bench --version >> $W/gpu.txt
step 150 gpu_tests_decode.txt $M/fabench_gpu_tests "[decode]" -r compact --durations yes
for tool in memcheck racecheck; do
  step 90 sanitize_decode.txt compute-sanitizer --tool $tool --error-exitcode 9 $M/fa-bench --config configs/sanitize_decode.json --output /tmp/s_$tool --overwrite
done
export FABENCH_CALIBRATION=.devbuild/s50/calibration.json
step 260 decode_targets.txt $M/fa-bench --config $S/decode-targets.config.json --output $W/targets
$M/fa-bench plan --config $S/decode-targets.config.json -o $W/targets/plan.json >> $W/plan.log 2>&1
step 100 peers.txt python3 -u scripts/peers.py --plan $W/targets/plan.json --peers cudnn --output $W/targets/decode-peers.csv
pack; cat $W/steps.txt
# then, in the same lease (the first peers step was killed at its 100 s limit after 24 of 59 problems):
# python3 -u scripts/peers.py --plan /tmp/w/targets/plan.json --peers cudnn --output /tmp/w/targets/decode-peers.csv --resume
