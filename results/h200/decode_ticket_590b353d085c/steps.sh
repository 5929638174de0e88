#!/bin/bash
# The ticket-first merge (main 6b3be04 plus ticket.diff) against main: its [decode] GPU test,
# memcheck and racecheck over configs/sanitize_decode.json, then ticket.config.json main / ticket in
# turn, twice, and cuDNN over the same plan once.
S=.devbuild/s55; W=/tmp/w2; rm -rf $W; mkdir -p $W /tmp/b2
pack() { tar -C /tmp -cf - w2 | xz -1 > $OUT/w2.tar.xz.tmp && mv $OUT/w2.tar.xz.tmp $OUT/w2.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b2 -xf -
xz -d -c .devbuild/s54/bins_main.tar.xz | tar -C /tmp/b2 -xf -
M=/tmp/b2/head/fa-bench; T=/tmp/b2/ticket/fa-bench
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
$M --version >> $W/gpu.txt; $T --version >> $W/gpu.txt
step 100 decode_test.txt /tmp/b2/ticket/fabench_gpu_tests "[decode]" -r compact --durations yes
for tool in memcheck racecheck; do
  step 80 sanitize.txt compute-sanitizer --tool $tool --error-exitcode 9 $T --config configs/sanitize_decode.json --output /tmp/s2_$tool --overwrite
done
export FABENCH_CALIBRATION=.devbuild/s50/calibration.json
$M plan --config $S/ticket.config.json -o $W/plan.json >> $W/plan.log 2>&1
for r in 1 2; do
  step 60 runs.txt $M --config $S/ticket.config.json --output $W/main$r
  step 60 runs.txt $T --config $S/ticket.config.json --output $W/ticket$r
done
step 120 peers.txt python3 -u scripts/peers.py --plan $W/plan.json --peers cudnn --output $W/cudnn.csv
pack; cat $W/steps.txt
