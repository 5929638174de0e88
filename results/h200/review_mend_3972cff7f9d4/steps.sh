#!/bin/bash
# The review refactor (ref: attention_key_end and attention_tile_needs_mask, one definition for
# AttentionBlock and the warp-specialized loop) against main e92973c: ref's GPU tests ([sparse],
# odd-shape variants), compute-sanitizer over sanitize_sparse.json and sanitize_attention.json, and
# the sparse and dense A/B main, ref, twice, under the timer's clock rule.
S=.devbuild/s29; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
for v in main ref; do /tmp/b/$v/fa-bench --version >> $W/gpu.txt; done
B=/tmp/b/ref
step 150 gpu_tests.txt $B/fabench_gpu_tests "[sparse]" -r compact
for r in 1 2; do for v in main ref; do
  step 90 ab.txt /tmp/b/$v/fa-bench --config $S/sparse_ab.config.json --output $W/sparse_$v$r --overwrite
  step 60 ab.txt /tmp/b/$v/fa-bench --config $S/dense_ab.config.json --output $W/dense_$v$r --overwrite
done; done
step 200 gpu_tests.txt $B/fabench_gpu_tests "every GPU variant matches the CPU reference at odd shapes" -r compact
for c in sparse attention; do for tool in memcheck racecheck synccheck; do
  step 120 sanitize.txt compute-sanitizer --tool $tool --error-exitcode 9 $B/fa-bench --config configs/sanitize_$c.json --output /tmp/s_${c}_${tool} --overwrite
done; done
pack; cat $W/steps.txt
