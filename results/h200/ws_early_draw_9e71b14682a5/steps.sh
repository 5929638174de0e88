#!/bin/bash
W=/tmp/w4; rm -rf $W; mkdir -p $W
pack() { tar -C $W -cf $OUT/w4.tar . 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; echo "rc=$? wall=$((SECONDS - t0)) s" >> $W/$log; pack; }
S=.devbuild/s4
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.sm,temperature.gpu,power.draw --format=csv > $W/gpu.txt 2>&1
mkdir -p /tmp/b && xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf - ; ls -la /tmp/b/* >> $W/steps.txt
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
M=/tmp/b/main; X=/tmp/b/early
step 60 early_gpu_sparse.txt $X/fabench_gpu_tests "[sparse]"
AB=results/h200/sparse_lpt_80aba5501762/lpt_ab.config.json
for r in 1 2; do
  step 60 ab.log $M/fa-bench --config $AB --output $W/ab_main$r
  step 60 ab.log $X/fa-bench --config $AB --output $W/ab_early$r
done
step 60 early_memcheck.txt compute-sanitizer --tool memcheck $X/fa-bench --config configs/sanitize_sparse.json --output $W/san_mem
step 60 early_racecheck.txt compute-sanitizer --tool racecheck $X/fa-bench --config configs/sanitize_sparse.json --output $W/san_race
step 60 early_synccheck.txt compute-sanitizer --tool synccheck $X/fa-bench --config configs/sanitize_sparse.json --output $W/san_sync
pack
