#!/bin/bash
# Call 1: calibrate's read floor (main 164eec7); decode v3 trace (decode-trace-main) and plain; branch
# ws-producer-prefetch (a69ebf7) validated and timed against main alternately; issue 17's targets at main.
S=.devbuild/s11; W=$OUT/w; mkdir -p $W /tmp/b
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
M=/tmp/b/main/fa-bench; B=/tmp/b/wpp
export FABENCH_CALIBRATION=$W/calibration.json
step 90 calibrate.txt $M calibrate
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
step 60 trace_plain.txt $M --config $S/decode-trace.config.json --output $W/trace_plain --overwrite
FABENCH_DECODE_TRACE_EVERY=25 step 60 trace.txt /tmp/b/trace/fa-bench --config $S/decode-trace.config.json --output $W/trace_build --overwrite
step 90 wpp_gpu_tests_sparse.txt $B/fabench_gpu_tests "[sparse]" -r compact
step 60 wpp_memcheck.txt compute-sanitizer --tool memcheck --error-exitcode 9 $B/fa-bench --config configs/sanitize_sparse.json --output $W/s1 --overwrite
step 90 wpp_racecheck.txt compute-sanitizer --tool racecheck --error-exitcode 9 $B/fa-bench --config configs/sanitize_sparse.json --output $W/s2 --overwrite
step 60 wpp_synccheck.txt compute-sanitizer --tool synccheck --error-exitcode 9 $B/fa-bench --config configs/sanitize_sparse.json --output $W/s3 --overwrite
rm -rf $W/s1 $W/s2 $W/s3
for r in 1 2; do
  step 60 ab.txt $M --config $S/lpt_ab.config.json --output $W/ab_main$r --overwrite
  step 60 ab.txt $B/fa-bench --config $S/lpt_ab.config.json --output $W/ab_wpp$r --overwrite
done
step 300 decode_targets.txt $M --config $S/decode-targets.config.json --output $W/targets --overwrite
$M plan --config $S/decode-targets.config.json -o $W/targets/plan.json
step 120 peers.txt python3 -u scripts/peers.py --plan $W/targets/plan.json --peers cudnn --output $W/targets/decode-peers.csv
pack; rm -rf $W
