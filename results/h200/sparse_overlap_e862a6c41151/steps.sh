#!/bin/bash
# The lease's script (run from the repository root; binaries built on the CPU host, sm_90a, carried
# as one xz archive: main = 5b9855a, overlap = e862a6c). The Triton steps' files are in
# ../triton_shared_stats_5b9855ac8f96.
W=/tmp/w1; rm -rf $W; mkdir -p $W
pack() { tar -C $W -cf $OUT/w1.tar . 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; echo "rc=$? wall=$((SECONDS - t0)) s" >> $W/$log; pack; }
S=.devbuild/s1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.sm,temperature.gpu,power.draw --format=csv > $W/gpu.txt 2>&1
mkdir -p /tmp/b && xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf - ; ls -la /tmp/b/* >> $W/steps.txt
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
M=/tmp/b/main; X=/tmp/b/overlap
step 60 main_gpu_sparse.txt $M/fabench_gpu_tests "[sparse]"
step 60 overlap_gpu_sparse.txt $X/fabench_gpu_tests "[sparse]"
AB=results/h200/sparse_lpt_80aba5501762/lpt_ab.config.json
for r in 1 2; do
  step 60 ab.log $M/fa-bench --config $AB --output $W/ab_main$r
  step 60 ab.log $X/fa-bench --config $AB --output $W/ab_overlap$r
done
step 60 overlap_memcheck.txt compute-sanitizer --tool memcheck $X/fa-bench --config configs/sanitize_sparse.json --output $W/san_mem
step 60 overlap_racecheck.txt compute-sanitizer --tool racecheck $X/fa-bench --config configs/sanitize_sparse.json --output $W/san_race
step 60 overlap_synccheck.txt compute-sanitizer --tool synccheck $X/fa-bench --config configs/sanitize_sparse.json --output $W/san_sync
$M/fa-bench plan --config $S/softmax_small.config.json -o $W/small_plan.json > $W/plan.log 2>&1
step 100 triton_small.log python3 -u scripts/user_kernels.py --module examples/triton/softmax.py --plan $W/small_plan.json --params '^version=(4|5|7)$' --output $W/triton_small.csv
step 60 triton_compile.log python3 -u tests/triton_compile_test.py
pack
