#!/bin/bash
# ws-stream variants against main (3972cff's binary: main's kernels): strm e852228 (the stream),
# ahead e1a7554 (+ the producer draws a tile ahead), s232 e7691a8 (ahead at 40 / 232 registers),
# regs b885600 (main's loop at 56 / 224). [sparse] GPU tests of ahead and s232, then the sparse and
# dense A/B, two rounds, the variants in turn.
S=.devbuild/s33; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
V="main strm ahead s232 regs"
for v in $V; do /tmp/b/$v/fa-bench --version >> $W/gpu.txt; done
for v in ahead s232; do step 60 gpu_tests_$v.txt /tmp/b/$v/fabench_gpu_tests "[sparse]" -r compact; done
for r in 1 2; do for v in $V; do
  step 60 ab.txt /tmp/b/$v/fa-bench --config $S/sparse_ab.config.json --output $W/sparse_$v$r --overwrite
done; done
for r in 1 2; do for v in $V; do
  step 40 ab.txt /tmp/b/$v/fa-bench --config $S/dense_ab.config.json --output $W/dense_$v$r --overwrite
done; done
pack; cat $W/steps.txt
