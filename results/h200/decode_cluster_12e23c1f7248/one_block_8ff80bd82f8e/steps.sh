#!/bin/bash
# Call 3: branch decode-cluster1 (8ff80bd: the cluster merge with one block an SM, only where every
# unit's cluster is resident) validated and timed against main (a69ebf7) alternately.
S=.devbuild/s13; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
M=/tmp/b/main/fa-bench; C=/tmp/b/cluster1
for r in 1 2; do
  step 70 ab.txt $M --config $S/decode-ab.config.json --output $W/ab_main$r --overwrite
  step 70 ab.txt $C/fa-bench --config $S/decode-ab.config.json --output $W/ab_cluster$r --overwrite
done
step 100 cluster_gpu_tests_decode.txt $C/fabench_gpu_tests "[decode]" -r compact
step 40 cluster_memcheck.txt compute-sanitizer --tool memcheck --error-exitcode 9 $C/fa-bench --config configs/sanitize_decode.json --output $W/s1 --overwrite
step 60 cluster_racecheck.txt compute-sanitizer --tool racecheck --error-exitcode 9 $C/fa-bench --config configs/sanitize_decode.json --output $W/s2 --overwrite
step 40 cluster_synccheck.txt compute-sanitizer --tool synccheck --error-exitcode 9 $C/fa-bench --config configs/sanitize_decode.json --output $W/s3 --overwrite
rm -rf $W/s1 $W/s2 $W/s3
pack; rm -rf $W
