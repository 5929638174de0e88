#!/bin/bash
# main fc7ec31 (decode v3, whole tiles at fixed offsets; 3 stages) and 1d0ae1e (the same at 4 stages, one block an SM) over splits; cuDNN in the same lease.
S=.devbuild/s10; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
C=$S/decode-lean-splits.config.json
step 70 lean3.txt /tmp/b/lean3/fa-bench --config $C --output $W/lean3 --overwrite
step 70 lean4.txt /tmp/b/lean4/fa-bench --config $C --output $W/lean4 --overwrite
/tmp/b/lean3/fa-bench plan --config $C -o $W/plan.json
step 40 peers.txt python3 -u scripts/peers.py --plan $W/plan.json --peers cudnn --output $W/decode-peers.csv
step 90 gpu_tests_decode_lean4.txt /tmp/b/lean4/fabench_gpu_tests "[decode]" -r compact
step 60 sanitize_decode_racecheck_lean4.txt compute-sanitizer --tool racecheck --error-exitcode 9 /tmp/b/lean4/fa-bench --config configs/sanitize_decode.json --output $W/san --overwrite
rm -rf $W/san; pack; rm -rf $W
