#!/bin/bash
# main at 620bc14 (sparse.wgmma v3 with turns and the last P V alone, and the new GPU test of both
# instances): the [sparse] GPU tests, memcheck and racecheck over sanitize_sparse.json, one run of the
# sparse A/B config, the odd-shape test. Prepared when the device time of 2026-12-03 ran out.



S=.devbuild/s39; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
B=/tmp/b/final
$B/fa-bench --version >> $W/gpu.txt
step 60 gpu_tests.txt $B/fabench_gpu_tests "[sparse]" -r compact
for tool in memcheck racecheck; do
  step 60 sanitize.txt compute-sanitizer --tool $tool --error-exitcode 9 $B/fa-bench --config configs/sanitize_sparse.json --output /tmp/s_sparse_${tool} --overwrite
done
step 60 runs.txt $B/fa-bench --config $S/sparse_ab.config.json --output $W/sparse_final1 --overwrite
step 150 gpu_tests.txt $B/fabench_gpu_tests "every GPU variant matches the CPU reference at odd shapes" -r compact
pack; cat $W/steps.txt
