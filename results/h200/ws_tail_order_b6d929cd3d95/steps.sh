#!/bin/bash
# Branch ws-tail-order (b6d929c: sparse.wgmma v3's last slices drawn rank by rank) against main
# 620bc14: the branch's [sparse] GPU tests, memcheck and racecheck over sanitize_sparse.json; the
# A/B config main, tail, main, tail; the odd-shape test on the branch.
S=.devbuild/s43; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c .devbuild/s39/bins.tar.xz | tar -C /tmp/b -xf -
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
M=/tmp/b/final; T=/tmp/b/tail
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
$M/fa-bench --version >> $W/gpu.txt; $T/fa-bench --version >> $W/gpu.txt
step 60 gpu_tests.txt $T/fabench_gpu_tests "[sparse]" -r compact
for tool in memcheck racecheck; do
  step 60 sanitize.txt compute-sanitizer --tool $tool --error-exitcode 9 $T/fa-bench --config configs/sanitize_sparse.json --output /tmp/s_${tool} --overwrite
done
for r in 1 2; do
  step 90 runs.txt $M/fa-bench --config $S/tail_ab.config.json --output $W/ab_main$r --overwrite
  step 90 runs.txt $T/fa-bench --config $S/tail_ab.config.json --output $W/ab_tail$r --overwrite
done
step 150 gpu_tests.txt $T/fabench_gpu_tests "every GPU variant matches the CPU reference at odd shapes" -r compact --durations yes
pack; cat $W/steps.txt
