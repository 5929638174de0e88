#!/bin/bash
# Branch ws-peel at 99ba319 (peel: the last step's P V alone after the loop, no dropped S; dense and
# sparse loops alike) against main cb0561f: [sparse] GPU test, sparse A/B two rounds, dense A/B two
# rounds, dense with few keys one round, odd-shape variants test, compute-sanitizer.
# As run: S held this folder's configs and the binaries built at the commits named.
S=.devbuild/s38; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
V="main peel"
for v in $V; do /tmp/b/$v/fa-bench --version >> $W/gpu.txt; done
B=/tmp/b/peel
step 60 gpu_tests.txt $B/fabench_gpu_tests "[sparse]" -r compact
for r in 1 2; do for v in $V; do
  step 60 ab.txt /tmp/b/$v/fa-bench --config $S/sparse_ab.config.json --output $W/sparse_$v$r --overwrite
  step 40 ab.txt /tmp/b/$v/fa-bench --config $S/dense_ab.config.json --output $W/dense_$v$r --overwrite
done; done
for v in $V; do
  step 40 ab.txt /tmp/b/$v/fa-bench --config $S/short_keys.config.json --output $W/keys_$v --overwrite
done
step 150 gpu_tests.txt $B/fabench_gpu_tests "every GPU variant matches the CPU reference at odd shapes" -r compact
for tool in memcheck racecheck synccheck; do
  step 60 sanitize.txt compute-sanitizer --tool $tool --error-exitcode 9 $B/fa-bench --config configs/sanitize_sparse.json --output /tmp/s_sparse_${tool} --overwrite
  step 60 sanitize.txt compute-sanitizer --tool $tool --error-exitcode 9 $B/fa-bench --config configs/sanitize_attention.json --output /tmp/s_attention_${tool} --overwrite
done
pack; cat $W/steps.txt
