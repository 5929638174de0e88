#!/bin/bash
# Call 2: branch decode-cluster-merge (12e23c1: page offsets an iteration ahead + cluster merge) validated
# and timed against main (a69ebf7) alternately, cuDNN on the same cases; branch tensor-map-cache (666bfb9) GPU tests.
S=.devbuild/s12; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
M=/tmp/b/main/fa-bench; C=/tmp/b/cluster; T=/tmp/b/tmc
step 100 cluster_gpu_tests_decode.txt $C/fabench_gpu_tests "[decode]" -r compact
step 40 cluster_memcheck.txt compute-sanitizer --tool memcheck --error-exitcode 9 $C/fa-bench --config configs/sanitize_decode.json --output $W/s1 --overwrite
step 60 cluster_racecheck.txt compute-sanitizer --tool racecheck --error-exitcode 9 $C/fa-bench --config configs/sanitize_decode.json --output $W/s2 --overwrite
step 40 cluster_synccheck.txt compute-sanitizer --tool synccheck --error-exitcode 9 $C/fa-bench --config configs/sanitize_decode.json --output $W/s3 --overwrite
rm -rf $W/s1 $W/s2 $W/s3
for r in 1 2; do
  step 70 ab.txt $M --config $S/decode-ab.config.json --output $W/ab_main$r --overwrite
  step 70 ab.txt $C/fa-bench --config $S/decode-ab.config.json --output $W/ab_cluster$r --overwrite
done
$M plan --config $S/decode-ab.config.json -o $W/plan.json
step 60 peers.txt python3 -u scripts/peers.py --plan $W/plan.json --peers cudnn --output $W/decode-peers.csv
step 150 tmc_gpu_tests_variants.txt $T/fabench_gpu_tests "every GPU variant matches the CPU reference at odd shapes" -r compact
step 60 tmc_gpu_tests_sparse.txt $T/fabench_gpu_tests "[sparse]" -r compact
step 90 tmc_gpu_tests_bwd.txt $T/fabench_gpu_tests "[bwd]" -r compact
pack; rm -rf $W
