#!/bin/bash
# Branch ws-tma-store (1bcc07a) against main (185b975): validation, sanitizers, alternate timings.
S=.devbuild/s2; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; echo "rc=$? wall=$((SECONDS - t0)) s" >> $W/$log; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
B=/tmp/b/br; M=/tmp/b/main
step 90 gpu_tests_sparse.txt $B/fabench_gpu_tests "[sparse]" -r compact
step 60 san_sparse_memcheck.txt compute-sanitizer --tool memcheck --error-exitcode 9 $B/fa-bench --config configs/sanitize_sparse.json --output $W/s1 --overwrite
step 90 san_sparse_racecheck.txt compute-sanitizer --tool racecheck --error-exitcode 9 $B/fa-bench --config configs/sanitize_sparse.json --output $W/s2 --overwrite
step 60 san_sparse_synccheck.txt compute-sanitizer --tool synccheck --error-exitcode 9 $B/fa-bench --config configs/sanitize_sparse.json --output $W/s3 --overwrite
step 60 san_attn_memcheck.txt compute-sanitizer --tool memcheck --error-exitcode 9 $B/fa-bench --config configs/sanitize_attention.json --output $W/s4 --overwrite
step 90 san_attn_racecheck.txt compute-sanitizer --tool racecheck --error-exitcode 9 $B/fa-bench --config configs/sanitize_attention.json --output $W/s5 --overwrite
step 60 san_attn_synccheck.txt compute-sanitizer --tool synccheck --error-exitcode 9 $B/fa-bench --config configs/sanitize_attention.json --output $W/s6 --overwrite
for r in 1 2; do
  step 90 ab.txt $M/fa-bench --config $S/lpt_ab.config.json --output $W/ab_main$r --overwrite
  step 90 ab.txt $B/fa-bench --config $S/lpt_ab.config.json --output $W/ab_br$r --overwrite
  step 90 ab.txt $M/fa-bench --config $S/dense_ab.config.json --output $W/dense_main$r --overwrite
  step 90 ab.txt $B/fa-bench --config $S/dense_ab.config.json --output $W/dense_br$r --overwrite
done
step 200 gpu_tests_variants.txt $B/fabench_gpu_tests "every GPU variant matches the CPU reference at odd shapes" -r compact
step 90 gpu_tests_bwd.txt $B/fabench_gpu_tests "[bwd]" -r compact
step 120 gpu_tests_generate.txt $B/fabench_gpu_tests "[generate]" -r compact
pack; rm -rf $W
