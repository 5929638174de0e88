#!/bin/bash
# decode-lean 056afc3 (whole tiles by two copies a row at fixed offsets) against main 97962c5, cuDNN in the same lease.
S=.devbuild/s9; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
B=/tmp/b/lean; M=/tmp/b/main; C=$S/decode-lean.config.json
step 60 ab_main1.txt $M/fa-bench --config $C --output $W/ab_main1 --overwrite
step 60 ab_lean1.txt $B/fa-bench --config $C --output $W/ab_lean1 --overwrite
step 130 gpu_tests_decode.txt $B/fabench_gpu_tests "[decode]" -r compact
for tool in memcheck racecheck synccheck; do
  step 90 sanitize_decode_$tool.txt compute-sanitizer --tool $tool --error-exitcode 9 $B/fa-bench --config configs/sanitize_decode.json --output $W/san_$tool --overwrite
done
step 60 ab_main2.txt $M/fa-bench --config $C --output $W/ab_main2 --overwrite
step 60 ab_lean2.txt $B/fa-bench --config $C --output $W/ab_lean2 --overwrite
$B/fa-bench plan --config $C -o $W/plan.json
step 60 peers.txt python3 -u scripts/peers.py --plan $W/plan.json --peers cudnn --output $W/decode-peers.csv
cp $W/san_memcheck/*.csv $W/sanitize_decode_rows.csv 2>/dev/null; rm -rf $W/san_*; pack; rm -rf $W
