#!/bin/bash
# Issue 17: decode-ll abe2ca3 (flagged partials, stale ones read again in sweeps), the same with the
# acquire-release arrival (acqrel), main 5f93997: ll2's [decode] GPU test and memcheck, then
# decode-ll2-ab.config.json main, ll2, acqrel, twice.
S=.devbuild/s18; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_floor_164eec728c26/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
step 120 ll2_gpu_tests_decode.txt /tmp/b/ll2/fabench_gpu_tests "[decode]" -r compact
step 60 ll2_memcheck_decode.txt compute-sanitizer --tool memcheck --error-exitcode 9 /tmp/b/ll2/fa-bench --config configs/sanitize_decode.json --output $W/s1 --overwrite
rm -rf $W/s1
for i in 1 2; do for v in main ll2 acqrel; do
  step 90 ab_$v$i.txt /tmp/b/$v/fa-bench --config $S/decode-ll2-ab.config.json --output $W/ab_$v$i --overwrite
done; done
pack; rm -rf $W
