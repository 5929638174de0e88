#!/bin/bash
# decode-tma at 3 stages (94a4e73, two blocks an SM) and 6 stages (6a4b3d8, one block an SM) against main 8c22a27.
S=.devbuild/s7; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c .devbuild/s6/bins.tar.xz | tar -C /tmp/b -xf - main
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
C=$S/decode-stages.config.json
for b in main tma3 tma6; do step 60 ab_$b.txt /tmp/b/$b/fa-bench --config $C --output $W/ab_$b --overwrite; done
step 100 gpu_tests_decode_tma6.txt /tmp/b/tma6/fabench_gpu_tests "[decode]" -r compact
step 60 sanitize_decode_racecheck_tma6.txt compute-sanitizer --tool racecheck --error-exitcode 9 /tmp/b/tma6/fa-bench --config configs/sanitize_decode.json --output $W/san --overwrite
/tmp/b/main/fa-bench plan --config $C -o $W/plan.json
step 60 peers.txt python3 -u scripts/peers.py --plan $W/plan.json --peers cudnn --output $W/decode-peers.csv
for b in main tma6; do step 60 ab_${b}_2.txt /tmp/b/$b/fa-bench --config $C --output $W/ab_${b}_2 --overwrite; done
rm -rf $W/san; pack; rm -rf $W
