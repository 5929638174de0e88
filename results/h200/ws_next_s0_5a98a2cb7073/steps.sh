#!/bin/bash
# Branch ws-next-s0 (each tile's first S beside the previous tile's last P V, Q in two buffers) against
# main 32598f0: the branch's GPU tests ([sparse], odd-shape variants), compute-sanitizer over
# sanitize_sparse.json and sanitize_attention.json, then sparse and dense A/B, alternately, twice.
S=$S; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
M=/tmp/b/main/fa-bench; B=/tmp/b/branch
$M --version >> $W/gpu.txt; $B/fa-bench --version >> $W/gpu.txt
step 150 gpu_tests.txt $B/fabench_gpu_tests "[sparse]" -r compact
for r in 1 2; do
  step 90 ab.txt $M --config $S/sparse_ab.config.json --output $W/sparse_main$r --overwrite
  step 90 ab.txt $B/fa-bench --config $S/sparse_ab.config.json --output $W/sparse_branch$r --overwrite
  step 60 ab.txt $M --config $S/dense_ab.config.json --output $W/dense_main$r --overwrite
  step 60 ab.txt $B/fa-bench --config $S/dense_ab.config.json --output $W/dense_branch$r --overwrite
done
step 200 gpu_tests.txt $B/fabench_gpu_tests "every GPU variant matches the CPU reference at odd shapes" -r compact
for c in sparse attention; do for tool in memcheck racecheck synccheck; do
  step 120 sanitize.txt compute-sanitizer --tool $tool --error-exitcode 9 $B/fa-bench --config configs/sanitize_$c.json --output /tmp/s_${c}_${tool} --overwrite
done; done
pack; cat $W/steps.txt
