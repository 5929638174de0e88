#!/bin/bash
# Branch ws-pingpong (pp, 42ff2f1) against main (3972cff's binary: main's kernels): pp's [sparse]
# GPU test, the sparse and dense A/B two rounds in turn, dense attention with few keys (main's
# attn.wgmma, then cuDNN and FlashAttention-2 by peers.py), then pp's odd-shape variants test and
# compute-sanitizer over sanitize_sparse.json and sanitize_attention.json.
S=.devbuild/s34; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
V="main pp"
for v in $V; do /tmp/b/$v/fa-bench --version >> $W/gpu.txt; done
B=/tmp/b/pp
step 60 gpu_tests.txt $B/fabench_gpu_tests "[sparse]" -r compact
grep -q "^rc=0 " $W/gpu_tests.txt || { echo "[sparse] failed: stop" >> $W/steps.txt; pack; cat $W/steps.txt; tail -40 $W/gpu_tests.txt; exit 1; }
for r in 1 2; do for v in $V; do
  step 60 ab.txt /tmp/b/$v/fa-bench --config $S/sparse_ab.config.json --output $W/sparse_$v$r --overwrite
done; done
for r in 1 2; do for v in $V; do
  step 40 ab.txt /tmp/b/$v/fa-bench --config $S/dense_ab.config.json --output $W/dense_$v$r --overwrite
done; done
step 40 short_keys.txt /tmp/b/main/fa-bench --config $S/short_keys.config.json --output $W/short_keys --overwrite
/tmp/b/main/fa-bench plan --config $S/short_keys.config.json > $W/plan_short_keys.json
step 120 short_keys.txt python3 -u scripts/peers.py --plan $W/plan_short_keys.json --peers 'cudnn|flash' --output $W/short_keys/peers.csv
step 150 gpu_tests.txt $B/fabench_gpu_tests "every GPU variant matches the CPU reference at odd shapes" -r compact
for cfg in sparse attention; do for tool in memcheck racecheck synccheck; do
  step 60 sanitize.txt compute-sanitizer --tool $tool --error-exitcode 9 $B/fa-bench --config configs/sanitize_$cfg.json --output /tmp/s_${cfg}_${tool} --overwrite
done; done
pack; cat $W/steps.txt
