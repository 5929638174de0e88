#!/bin/bash
# main at 6b3be04: every GPU test (the refactored [decode] test first), memcheck and racecheck over
# configs/sanitize_decode.json.
S=.devbuild/s54; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
M=/tmp/b/head
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
$M/fa-bench --version >> $W/gpu.txt
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" >> $W/gpu.txt 2>&1
step 90 decode_test.txt $M/fabench_gpu_tests "[decode]" -r compact --durations yes
step 330 gpu_tests.txt $M/fabench_gpu_tests "~[decode]" -r compact --durations yes
for tool in memcheck racecheck; do
  step 80 sanitize.txt compute-sanitizer --tool $tool --error-exitcode 9 $M/fa-bench --config configs/sanitize_decode.json --output /tmp/s_$tool --overwrite
done
pack; cat $W/steps.txt
