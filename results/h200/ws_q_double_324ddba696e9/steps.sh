#!/bin/bash
# Branch ws-q-double 324ddba (two Q buffers: a tile's Q loaded as soon as the tile is drawn, not
# after the consumers' last S of the tile before; the mask stages unpadded and XOR-swizzled to make
# room; ws_q_double.diff beside this script) against main fb5fc8f's build (.devbuild/s47, the kernels of
# main 5ac98b4): its [sparse] GPU tests first (a hang ends at the step's limit), the A/B configs in
# turn twice, memcheck / racecheck / synccheck over sanitize_sparse and sanitize_attention, the
# odd-shape variants test, the scaling config on both. Branch ws-tmap-prefetch 03e278f (the three
# tensor maps' descriptors prefetched at the kernel's start) joins the A/B rounds. About 430 s.
S=.devbuild/s49; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c .devbuild/s47/bins.tar.xz | tar -C /tmp/b -xf - && mv /tmp/b/merged /tmp/b/main
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
T=/tmp/b/qdouble
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
for x in main qdouble tmpf; do /tmp/b/$x/fa-bench --version >> $W/gpu.txt; done
step 60 gpu_tests.txt $T/fabench_gpu_tests "[sparse]" -r compact
for r in 1 2; do
  for x in main qdouble tmpf; do
    step 60 runs.txt /tmp/b/$x/fa-bench --config $S/tail_ab.config.json --output $W/sparse_$x$r --overwrite
    step 60 runs.txt /tmp/b/$x/fa-bench --config $S/dense_ab.config.json --output $W/dense_$x$r --overwrite
  done
done
for cfg in sanitize_sparse sanitize_attention; do
  for tool in memcheck racecheck synccheck; do
    step 90 sanitize.txt compute-sanitizer --tool $tool --error-exitcode 9 $T/fa-bench --config configs/$cfg.json --output /tmp/s_${cfg}_${tool} --overwrite
  done
done
step 150 gpu_tests.txt $T/fabench_gpu_tests "every GPU variant matches the CPU reference at odd shapes" -r compact --durations yes
for x in main qdouble tmpf; do
  step 90 runs.txt /tmp/b/$x/fa-bench --config $S/scaling.config.json --output $W/scaling/$x --overwrite
done
pack; cat $W/steps.txt
