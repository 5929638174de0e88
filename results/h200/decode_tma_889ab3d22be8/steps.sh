#!/bin/bash
# decode-tma 889ab3d (K/V tiles by TMA) validated and timed against main 8c22a27, cuDNN in the same lease.
S=.devbuild/s6; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
M=/tmp/b/main; T=/tmp/b/tma
step 60 ab_main1.txt $M/fa-bench --config $S/decode-tma.config.json --output $W/ab_main1 --overwrite
step 60 ab_tma1.txt $T/fa-bench --config $S/decode-tma.config.json --output $W/ab_tma1 --overwrite
step 150 gpu_tests_decode.txt $T/fabench_gpu_tests "[decode]" -r compact
for tool in memcheck racecheck synccheck; do
  step 60 sanitize_decode_$tool.txt compute-sanitizer --tool $tool --error-exitcode 9 $T/fa-bench --config configs/sanitize_decode.json --output $W/san_$tool --overwrite
done
step 60 ab_main2.txt $M/fa-bench --config $S/decode-tma.config.json --output $W/ab_main2 --overwrite
step 60 ab_tma2.txt $T/fa-bench --config $S/decode-tma.config.json --output $W/ab_tma2 --overwrite
$T/fa-bench plan --config $S/decode-tma.config.json -o $W/plan.json
step 60 peers.txt python3 -u scripts/peers.py --plan $W/plan.json --peers cudnn --experiments '^b(1|16|64)$' --output $W/decode-peers.csv
rm -rf $W/san_*; pack; rm -rf $W
