#!/bin/bash
# Main fb5fc8f (the ws loop's first tile static, the next tile's Q into the L2 as it is drawn):
# its [sparse] GPU tests, memcheck / racecheck / synccheck over sanitize_sparse and
# sanitize_attention, the odd-shape variants test; then one more A/B round against b6d929c's kernels
# (.devbuild/s43) and the scaling config on both.
S=.devbuild/s47; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c .devbuild/s43/bins.tar.xz | tar -C /tmp/b -xf - && mv /tmp/b/tail /tmp/b/main
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
T=/tmp/b/merged
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
for x in main merged; do /tmp/b/$x/fa-bench --version >> $W/gpu.txt; done
step 60 gpu_tests.txt $T/fabench_gpu_tests "[sparse]" -r compact
for cfg in sanitize_sparse sanitize_attention; do
  for tool in memcheck racecheck synccheck; do
    step 90 sanitize.txt compute-sanitizer --tool $tool --error-exitcode 9 $T/fa-bench --config configs/$cfg.json --output /tmp/s_${cfg}_${tool} --overwrite
  done
done
step 150 gpu_tests.txt $T/fabench_gpu_tests "every GPU variant matches the CPU reference at odd shapes" -r compact --durations yes
for x in main merged; do
  step 60 runs.txt /tmp/b/$x/fa-bench --config $S/tail_ab.config.json --output $W/sparse_${x}3 --overwrite
  step 60 runs.txt /tmp/b/$x/fa-bench --config $S/dense_ab.config.json --output $W/dense_${x}3 --overwrite
done
for x in main merged; do
  step 90 runs.txt /tmp/b/$x/fa-bench --config $S/scaling.config.json --output $W/scaling/$x --overwrite
done
pack; cat $W/steps.txt
